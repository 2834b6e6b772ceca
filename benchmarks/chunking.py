"""Chunking: ragdrop's node parsers vs LlamaIndex's on the same text and the same model.

The text is CPython's own documentation (``pydoc_data.topics``, shipped with Python, so it is
available offline), cut at a topic boundary to ``--chars`` characters (~200 KB). The model is
the bundled all-MiniLM-L6-v2, which reads 256 word-piece tokens ([CLS] and [SEP] included);
every chunk is measured the way the model will read it: ``node.get_content(EMBED)``.

Contenders, timed in the same run and interleaved:

- ``li-sentence``: LlamaIndex ``SentenceSplitter(chunk_size=512)`` (tiktoken), the fixed baseline;
- ``li-sentence@minilm``: the same splitter counting MiniLM tokens, ``chunk_size=256`` (for info);
- ``fixed``: ``FixedSizeNodeParser(embed_model=minilm, chunk_overlap=32)``;
- ``li-semantic``: LlamaIndex ``SemanticSplitterNodeParser(buffer_size=1)``, the semantic baseline;
- ``semantic``: ``SemanticNodeParser(embed_model=minilm)`` (buffer 1, percentile 95).

Goals (issue 3): semantic >= 3x faster than ``li-semantic`` with 0% of tokens past the
window; fixed within 2x of ``li-sentence``'s time with 0% past the window.

Usage: ``python -m benchmarks.chunking [--quick] [--chars N] [--repeats N] [--json PATH]
[--summary PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._summary import Row, add_summary_option, write_summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def python_docs(max_chars: int) -> str:
    """CPython's pydoc topics in sorted order, whole topics up to ``max_chars`` characters."""
    from pydoc_data import topics

    parts: list[str] = []
    size = 0
    for name, body in sorted(topics.topics.items()):
        part = f"{name}\n\n{body.strip()}"
        if parts and size + len(part) + 2 > max_chars:
            break
        parts.append(part)
        size += len(part) + 2
    return "\n\n".join(parts)


def chunk_stats(nodes: list[Any], tokenizer: Any, window: int) -> dict[str, Any]:
    """Chunk count, median/max tokens as the model reads them, and % of tokens it drops."""
    from llama_index.core.schema import MetadataMode

    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    tokens = [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
    total = sum(tokens)
    past = sum(max(0, t - window) for t in tokens)
    return {
        "chunks": len(nodes),
        "median_tokens": statistics.median(tokens),
        "max_tokens": max(tokens),
        "min_chars": min(len(n.get_content()) for n in nodes),
        "max_chars": max(len(n.get_content()) for n in nodes),
        "past_window_pct": 100.0 * past / total,
    }


def build_contenders(model: Any, quick: bool) -> dict[str, Callable[[], Any]]:
    from llama_index.core.node_parser import SemanticSplitterNodeParser, SentenceSplitter

    from ragdrop.node_parsers import FixedSizeNodeParser, SemanticNodeParser

    tokenizer = model.tokenizer

    def minilm_ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    # Fresh parsers per run: nothing learnt in one run is reused by the next.
    return {
        "li-sentence": lambda: SentenceSplitter(chunk_size=512),
        "li-sentence@minilm": lambda: SentenceSplitter(
            chunk_size=256, chunk_overlap=32, tokenizer=minilm_ids
        ),
        "fixed": lambda: FixedSizeNodeParser(embed_model=model, chunk_overlap=32),
        "li-semantic": lambda: SemanticSplitterNodeParser(buffer_size=1, embed_model=model),
        "semantic": lambda: SemanticNodeParser(embed_model=model),
    }


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from llama_index.core import Document

    from ragdrop.embeddings import SentenceTransformerEmbedding

    text = python_docs(args.chars)
    document = Document(text=text, id_="pydoc-topics", metadata={"source": "pydoc_data.topics"})
    model = SentenceTransformerEmbedding()
    model.warm_up()
    window = model.max_seq_length
    contenders = build_contenders(model, args.quick)
    print(
        f"text: {len(text):,} characters of pydoc topics; model window {window} tokens; "
        f"{args.repeats} runs each (interleaved), median reported",
        file=sys.stderr,
    )
    # Warm-up: tiktoken/nltk loads, first forward pass.
    for name in ("li-sentence", "fixed"):
        contenders[name]().get_nodes_from_documents([document])
    model.get_text_embedding_batch(["warm up the model"] * 8)

    times: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, dict[str, Any]] = {}
    for repeat in range(args.repeats):
        for name, make in contenders.items():
            parser = make()
            start = time.perf_counter()
            nodes = parser.get_nodes_from_documents([document])
            times[name].append(time.perf_counter() - start)
            if repeat == 0:
                results[name] = chunk_stats(nodes, model.tokenizer, window)
            print(f"  run {repeat + 1} {name}: {times[name][-1]:.2f}s", file=sys.stderr)
    for name, row in results.items():
        row["seconds"] = statistics.median(times[name])
        row["runs"] = times[name]
    return results


def print_table(results: dict[str, dict[str, Any]]) -> None:
    baselines = {
        "li-sentence": "li-sentence",
        "li-sentence@minilm": "li-sentence",
        "fixed": "li-sentence",
        "li-semantic": "li-semantic",
        "semantic": "li-semantic",
    }
    header = (
        f"{'parser':<20}{'seconds':>9}{'x base':>8}{'chunks':>8}{'med tok':>9}"
        f"{'max tok':>9}{'max chars':>11}{'% past window':>15}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        base = results[baselines[name]]["seconds"]
        print(
            f"{name:<20}{row['seconds']:>9.2f}{row['seconds'] / base:>8.2f}{row['chunks']:>8}"
            f"{row['median_tokens']:>9.0f}{row['max_tokens']:>9}{row['max_chars']:>11}"
            f"{row['past_window_pct']:>14.1f}%"
        )
    fixed, semantic = results["fixed"], results["semantic"]
    fixed_ratio = fixed["seconds"] / results["li-sentence"]["seconds"]
    speedup = results["li-semantic"]["seconds"] / semantic["seconds"]
    print()
    print(
        f"semantic: {speedup:.1f}x faster than li-semantic, "
        f"{semantic['past_window_pct']:.1f}% past window -> goal (>= 3x, 0%) "
        f"{'met' if speedup >= 3 and semantic['past_window_pct'] == 0 else 'NOT met'}"
    )
    print(
        f"fixed: {fixed_ratio:.2f}x li-sentence's time, {fixed['past_window_pct']:.1f}% past "
        f"window -> goal (<= 2x, 0%) "
        f"{'met' if fixed_ratio <= 2 and fixed['past_window_pct'] == 0 else 'NOT met'}"
    )


def summary_rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    """Ours against the LlamaIndex parser of the same kind: time, and tokens the model drops."""
    pairs = (
        ("SemanticNodeParser vs SemanticSplitterNodeParser", "semantic", "li-semantic"),
        ("FixedSizeNodeParser vs SentenceSplitter", "fixed", "li-sentence"),
    )
    rows = []
    for compared, ours, base in pairs:
        rows.append(
            Row(compared, "parse time (s)", results[ours]["seconds"], results[base]["seconds"])
        )
        rows.append(
            Row(
                compared,
                "% tokens past model window",
                results[ours]["past_window_pct"],
                results[base]["past_window_pct"],
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 KB of text, one run each")
    parser.add_argument("--chars", type=int, default=None, help="text size (default 200,000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per parser (default 3)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    args.chars = args.chars or (30_000 if args.quick else 200_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    results = run(args)
    print_table(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    write_summary(args.summary, summary_rows(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
