"""Cross-encoder reranking: ragdrop's CrossEncoderReranker vs LlamaIndex's SentenceTransformerRerank.

No cross-encoder weights can be downloaded here, so the benchmark builds one with the
architecture and cost of ``cross-encoder/ms-marco-MiniLM-L-6-v2`` (BERT, 6 layers, 384
hidden, 512 positions, one output): the bundled all-MiniLM-L6-v2 encoder plus a linear
relevance head fitted on a few BEIR pairs (see `build_minilm_cross_encoder`). Pass
``--model`` to measure a real cross-encoder instead.

For 20/50/100 candidates of ~200 and ~400 tokens (~150 and ~300 words of SciFact text cut at
token boundaries) it times, interleaved in one run on the same model and inputs, with a new
SciFact question each round (so no cache answers):

- ``llamaindex``: ``SentenceTransformerRerank`` (max_length hard-wired to 512), the baseline;
- ``onnx``: ``CrossEncoderReranker`` defaults (backend ``auto``: the fp32 ONNX export here;
  the model's own max_length: 512 here);
- ``torch``: ``backend="torch"``, float32;
- ``onnx-int8``: ``backend="onnx-int8"`` (the export quantised);
- ``@256``: ``max_length=256`` (query kept whole, passage cut);
- ``bf16`` / ``int8``: torch with ``precision="bfloat16"`` / ``"int8"`` (dynamic quantisation);
- ``cached``: one question asked again with ``cache_dir`` set (the model never runs).

The passages (and the probe's pairs) come from ``--data``, by default
``../shared/evaldata/scifact`` beside the repository; without it the run is skipped.

Usage: ``python -m benchmarks.rerank [--quick] [--model DIR] [--data DIR] [--repeats N]
[--summary PATH]``
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks._beir import evaldata, missing_data
from benchmarks._summary import Row, add_summary_option, skipped, write_summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_DATA = evaldata("scifact")
OURS_VS_LI = "CrossEncoderReranker vs SentenceTransformerRerank"
QUERIES = [
    "does vitamin d supplementation reduce the risk of fractures in older adults",
    "what is the role of microRNA in tumour suppression",
    "how do T cells respond to chronic viral infection",
]


def build_minilm_cross_encoder(out: Path, data: Path, pairs: int) -> Path:
    """Save a BertForSequenceClassification (1 label) on the bundled MiniLM-L6 encoder.

    A random head reads a direction of tiny variance (logits within +-0.05), where any
    rounding reorders everything; a trained reranker's head reads the relevance direction.
    So the head is a linear probe fitted on ``pairs`` (query, relevant / random passage)
    pairs of the BEIR data: the same architecture and cost, scores with a realistic spread.
    """
    import numpy as np
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    from ragdrop.embeddings import bundled_minilm_path

    source = str(bundled_minilm_path())
    torch.manual_seed(0)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head is "missing" from the checkpoint, as meant
    try:
        model = BertForSequenceClassification.from_pretrained(source, num_labels=1)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    docs = {}
    with open(data / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs[str(row["_id"])] = f"{row.get('title', '')}. {row.get('text', '')}"
    queries = {}
    with open(data / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            queries[str(row["_id"])] = row["text"]
    import random

    rng = random.Random(0)
    doc_ids = sorted(docs)
    examples: list[tuple[str, str, int]] = []
    with open(data / "qrels" / "test.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, grade = line.rstrip("\n").split("\t")
            if int(grade) > 0 and qid in queries and did in docs:
                examples.append((queries[qid], docs[did], 1))
                examples.append((queries[qid], docs[rng.choice(doc_ids)], 0))
            if len(examples) >= pairs:
                break
    feats, labels = [], []
    with torch.inference_mode():
        for start in range(0, len(examples), 16):
            chunk = examples[start : start + 16]
            enc = tokenizer(
                [q for q, _, _ in chunk],
                [d for _, d, _ in chunk],
                padding=True,
                truncation="only_second",
                max_length=256,
                return_tensors="pt",
            )
            feats.append(model.bert(**enc).pooler_output.numpy())
            labels += [y for _, _, y in chunk]
    x, y = np.concatenate(feats), np.array(labels)
    pos, neg = x[y == 1], x[y == 0]
    cov = np.cov(x, rowvar=False) + 1e-2 * np.eye(x.shape[1])
    w = np.linalg.solve(cov, pos.mean(0) - neg.mean(0))  # Fisher discriminant
    logits = x @ w
    scale = 3.0 / (logits.std() + 1e-9)  # logit spread like a trained MS MARCO reranker
    w, centre = w * scale, (pos.mean(0) + neg.mean(0)) / 2 @ (w * scale)
    accuracy = float(((x @ w - centre > 0) == (y == 1)).mean())
    print(f"probe head on {len(y)} pairs: train accuracy {accuracy:.2f}", file=sys.stderr)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor(w, dtype=torch.float32)[None, :])
        model.classifier.bias.fill_(float(-centre))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def make_passages(tokenizer: Any, data: Path, count: int, tokens: int, seed: int) -> list[str]:
    """``count`` passages of ``tokens`` ±20% word pieces, cut from the corpus at token ends."""
    import random

    rng = random.Random(seed)
    texts: list[str] = []
    with open(data / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')}. {row.get('text', '')}".strip())
            if len(texts) >= 3000:
                break
    passages: list[str] = []
    while len(passages) < count:
        start = rng.randrange(len(texts) - 40)
        blob = " ".join(texts[start : start + 40])
        offsets = tokenizer(
            blob, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )["offset_mapping"]
        want = int(tokens * rng.uniform(0.8, 1.2))
        if len(offsets) < want:
            continue
        passages.append(blob[: offsets[want - 1][1]])
    return passages


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items (1.0 = same ranking)."""
    concordant = discordant = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denom = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return (concordant - discordant) / denom if denom else 1.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def load_queries(data: Path, skip: Sequence[str]) -> list[str]:
    """The BEIR questions in file order (minus ``skip``): one fresh question per timed run."""
    out: list[str] = []
    with open(data / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            text = str(json.loads(line)["text"]).strip()
            if text and text not in skip:
                out.append(text)
    return out


def _scores_in_order(result: list[Any], nodes: list[Any]) -> list[float]:
    """The scores of ``result`` in the order of the candidates ``nodes``."""
    by_id = {n.node.node_id: float(n.score) for n in result}
    return [by_id.get(n.node.node_id, float("-inf")) for n in nodes]


SETTLE_S = 0.5
# Agreement measured against LlamaIndex (top-n overlap) and against ours on torch float32.
VERSUS_TORCH = ("onnx", "onnx-int8", "bf16", "int8")


def bench_case(
    rerankers: dict[str, Any],
    nodes: list[Any],
    queries: Iterator[str],
    repeats: int,
    top_n: int,
) -> dict[str, Any]:
    """Interleaved timed runs of every reranker on one candidate set; medians and agreement.

    Each round asks a question none of the rerankers has seen (so no cache can answer), the
    same for all of them; ``cached`` alone asks its one question again and again.
    """
    from llama_index.core.schema import QueryBundle

    cached_bundle = QueryBundle(next(queries))

    def call(name: str, bundle: Any) -> Any:
        if name == "cached":
            return rerankers[name].postprocess_nodes(nodes, query_bundle=cached_bundle)
        # LlamaIndex's reranker writes scores into the nodes it gets: give it copies.
        given = copy.deepcopy(nodes) if name == "llamaindex" else nodes
        return rerankers[name].postprocess_nodes(given, query_bundle=bundle)

    call("cached", None)  # fills the score cache
    times: dict[str, list[float]] = {name: [] for name in rerankers}
    overlap: dict[str, list[int]] = {name: [] for name in rerankers if name != "llamaindex"}
    taus: dict[str, list[float]] = {name: [] for name in (*VERSUS_TORCH, "@256")}
    max_diff = 0.0
    for _ in range(repeats):
        bundle = QueryBundle(next(queries))
        out: dict[str, Any] = {}
        for name in rerankers:
            # torch's OpenMP workers and onnxruntime's spin for a while after a run; on a
            # small machine they would slow the next reranker down. Let them go idle first.
            time.sleep(SETTLE_S)
            seconds, out[name] = timed(lambda n=name, b=bundle: call(n, b))
            times[name].append(seconds)
        top = {name: {n.node.node_id for n in result[:top_n]} for name, result in out.items()}
        scores = {name: _scores_in_order(result, nodes) for name, result in out.items()}
        for name in overlap:
            if name != "cached":
                overlap[name].append(len(top[name] & top["llamaindex"]))
        for name in VERSUS_TORCH:
            taus[name].append(kendall_tau(scores["torch"], scores[name]))
        taus["@256"].append(kendall_tau(scores["onnx"], scores["@256"]))
        diffs = [abs(a - b) for a, b in zip(scores["torch"], scores["onnx"], strict=True)]
        max_diff = max(max_diff, *diffs)

    row: dict[str, Any] = {name: statistics.median(t) for name, t in times.items()}
    row["overlap"] = {name: min(v) for name, v in overlap.items() if v}
    row["tau"] = {name: min(v) for name, v in taus.items()}
    row["onnx_max_abs_diff"] = max_diff
    return row


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode
    from transformers import AutoTokenizer

    from ragdrop.postprocessors import CrossEncoderReranker

    workdir = Path(tempfile.mkdtemp(prefix="ragdrop-rerank-bench-"))
    model_dir = (
        Path(args.model)
        if args.model
        else build_minilm_cross_encoder(workdir / "ce", args.data, args.probe_pairs)
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

    def ours(**kwargs: Any) -> CrossEncoderReranker:
        return CrossEncoderReranker(
            model=str(model_dir), top_n=None, device="cpu", onnx_dir=str(workdir / "onnx"), **kwargs
        )

    rerankers: dict[str, Any] = {
        "llamaindex": SentenceTransformerRerank(
            model=str(model_dir), top_n=args.top_n, device="cpu"
        ),
        "onnx": ours(),  # the defaults: backend auto = onnx here
        "torch": ours(backend="torch"),
        "onnx-int8": ours(backend="onnx-int8"),
        "@256": ours(max_length=256),
        "bf16": ours(precision="bfloat16"),
        "int8": ours(precision="int8"),
        "cached": ours(cache_dir=str(workdir / "cache")),
    }
    print(
        f"model {model_dir} | torch threads {torch.get_num_threads()} | "
        f"default backend {rerankers['onnx'].resolved_backend} | "
        f"default max_length {rerankers['onnx'].resolved_max_length} | top_n {args.top_n}",
        file=sys.stderr,
    )
    warm = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in QUERIES]
    for reranker in rerankers.values():  # loads (and exports) every model, outside the timings
        reranker.postprocess_nodes(copy.deepcopy(warm), query_str=QUERIES[0])
    queries = iter(load_queries(args.data, QUERIES))
    rows: list[dict[str, Any]] = []
    for tokens in args.lengths:
        for count in args.candidates:
            passages = make_passages(
                tokenizer, args.data, count, tokens, seed=count * 1000 + tokens
            )
            nodes = [
                NodeWithScore(node=TextNode(text=p, id_=f"p{i}"), score=1.0 - i / count)
                for i, p in enumerate(passages)
            ]
            # Same time budget per case: 100 candidates get a fifth of 20's runs (at least 1).
            repeats = max(1, round(args.repeats * 20 / count))
            row = {"candidates": count, "tokens": tokens, "repeats": repeats}
            row.update(bench_case(rerankers, nodes, queries, repeats, args.top_n))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def print_table(rows: list[dict[str, Any]], top_n: int) -> None:
    names = ["onnx", "torch", "onnx-int8", "@256", "bf16", "int8"]
    header = f"{'cand':>4} {'tok':>4} | {'llamaindex':>10} | " + " | ".join(
        f"{name:>9} {'ratio':>5} {'ovl':>3} {'tau':>5}" for name in names
    )
    header += f" | {'cached':>8} {'speedup':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        base = r["llamaindex"]
        cells = []
        for name in names:
            tau = r["tau"].get(name)
            cells.append(
                f"{r[name]:>8.3f}s {r[name] / base:>5.2f} {r['overlap'][name]:>3} "
                + (f"{tau:>5.3f}" if tau is not None else f"{'-':>5}")
            )
        print(
            f"{r['candidates']:>4} {r['tokens']:>4} | {base:>9.3f}s | "
            + " | ".join(cells)
            + f" | {r['cached'] * 1000:>6.2f}ms {r['onnx'] / r['cached']:>6.0f}x"
        )
    worst = max(r["onnx_max_abs_diff"] for r in rows)
    print(
        "\nMedians of interleaved runs, a new question each round. onnx: the defaults "
        "(backend auto); torch: backend='torch'; @256: max_length=256 (defaults otherwise); "
        "bf16/int8: torch precisions. ratio = time / llamaindex (goal <= 0.5). "
        f"ovl: worst top-{top_n} overlap with llamaindex over the rounds (goal >= "
        f"{top_n - 1 if top_n >= 10 else top_n}). tau: worst Kendall tau of all candidates' "
        "scores vs torch float32 (@256: vs onnx). cached: the same question again, served "
        f"from the score cache; speedup vs onnx. Largest |onnx - torch| score: {worst:.2e} "
        "(goal <= 1e-4)."
    )


def summary_rows(rows: list[dict[str, Any]]) -> list[Row]:
    """Ours (defaults, torch, onnx-int8) against LlamaIndex per case; the cache on the largest."""
    out = []
    for r in rows:
        case = f"{r['candidates']} cand x {r['tokens']} tok"
        out.append(Row(OURS_VS_LI, f"rerank {case} (s)", r["onnx"], r["llamaindex"]))
    largest = max(rows, key=lambda r: r["candidates"] * r["tokens"])
    case = f"{largest['candidates']} cand x {largest['tokens']} tok"
    for name, label in (("torch", "torch"), ("onnx-int8", "onnx-int8"), ("int8", "torch int8")):
        out.append(
            Row(
                f"CrossEncoderReranker {label} vs SentenceTransformerRerank",
                f"rerank {case} (s)",
                largest[name],
                largest["llamaindex"],
            )
        )
    out.append(
        Row(
            "CrossEncoderReranker cached vs uncached",
            f"rerank {case} (s)",
            largest["cached"],
            largest["onnx"],
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 and 50 candidates, 200 tokens")
    parser.add_argument("--model", help="a local cross-encoder directory (default: built)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR corpus directory")
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed runs at 20 candidates (fewer for more)"
    )
    parser.add_argument("--top-n", type=int, default=10, dest="top_n")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--probe-pairs", type=int, default=None, help="pairs the built model's head is fitted on"
    )
    add_summary_option(parser)
    args = parser.parse_args(argv)
    args.candidates = [20, 50] if args.quick else [20, 50, 100]
    args.lengths = [200] if args.quick else [200, 400]
    args.probe_pairs = args.probe_pairs or (64 if args.quick else 192)
    reason = missing_data(args.data)
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        write_summary(args.summary, [skipped(OURS_VS_LI, reason)])
        return 0
    rows = run(args)
    print_table(rows, args.top_n)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    write_summary(args.summary, summary_rows(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
