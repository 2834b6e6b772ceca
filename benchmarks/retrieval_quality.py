"""nDCG@10 of ragdrop's HybridRetriever vs LlamaIndex's QueryFusionRetriever on BEIR datasets.

    .venv/bin/python -m benchmarks.retrieval_quality ../shared/evaldata/scifact \
        ../shared/evaldata/cranfield ../shared/evaldata/cisi [--grid] [--quick] [--summary PATH]

Without datasets it reads scifact (``--quick``) or scifact, cranfield and cisi from
``../shared/evaldata`` beside the repository; a dataset that is missing is skipped.

Both sides use the same all-MiniLM-L6-v2 embeddings (cached as .npy in --cache-dir, computed
once) and the same node texts (title + text). The baseline is LlamaIndex's recipe: RRF
(``mode="reciprocal_rerank"``) over its bm25s ``BM25Retriever`` and a vector retriever.
``--grid`` also scores the configurations the default was chosen from (one configuration for
all datasets; the grid is printed so the choice can be checked).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.schema import QueryBundle, TextNode  # noqa: E402

from benchmarks._beir import (  # noqa: E402
    DEFAULT_CACHE,
    BeirDataset,
    evaldata,
    load_with_vectors,
    missing_data,
    ndcg_at_k,
)
from benchmarks._summary import Row, add_summary_option, skipped, write_summary  # noqa: E402
from ragdrop.retrievers import BM25Index, BM25Tokenizer, HybridRetriever  # noqa: E402
from ragdrop.retrievers.fusion import rrf_scores  # noqa: E402

TOP = 10
QUICK_SETS = ("scifact",)
FULL_SETS = ("scifact", "cranfield", "cisi")  # the sets HybridRetriever's default was tuned on


def mean_ndcg(ds: BeirDataset, runs: list[list[str]]) -> float:
    return statistics.fmean(
        ndcg_at_k(run, ds.qrels[qid], TOP) for qid, run in zip(ds.query_ids, runs, strict=True)
    )


def dense_runs(q: np.ndarray, d: np.ndarray, ds: BeirDataset, depth: int) -> list[list[str]]:
    sims = q @ d.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    return [[ds.doc_ids[j] for j in row] for row in top]


def bm25_runs(
    ds: BeirDataset, tokenizer: BM25Tokenizer, depth: int, **params: object
) -> list[list[str]]:
    index = BM25Index(tokenizer=tokenizer, **params)  # type: ignore[arg-type]
    index.add(ds.doc_ids, ds.doc_texts)
    return [[i for i, _ in index.search(text, top_k=depth)] for text in ds.query_texts]


def fuse(
    bm25: list[list[str]], dense: list[list[str]], k: float, w: tuple[float, float], depth: int
) -> list[list[str]]:
    out = []
    for a, b in zip(bm25, dense, strict=True):
        s = rrf_scores([a[:depth], b[:depth]], k=k, weights=w)
        out.append(sorted(s, key=lambda i: -s[i])[:TOP])
    return out


def baseline_query_fusion(
    ds: BeirDataset, q: np.ndarray, d: np.ndarray, sub_top_k: int
) -> tuple[float, list[list[str]]]:
    """LlamaIndex QueryFusionRetriever (RRF) over its BM25Retriever + vector retriever."""
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.retrievers.bm25 import BM25Retriever as LlamaBM25

    nodes = [
        TextNode(text=t, id_=i, embedding=v.tolist())
        for i, t, v in zip(ds.doc_ids, ds.doc_texts, d, strict=True)
    ]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=d.shape[1]))
    fusion = QueryFusionRetriever(
        [
            LlamaBM25.from_defaults(nodes=nodes, similarity_top_k=sub_top_k),
            index.as_retriever(similarity_top_k=sub_top_k),
        ],
        mode="reciprocal_rerank",  # type: ignore[arg-type]
        llm=MockLLM(),  # num_queries=1: no query generation, but it resolves an LLM anyway
        num_queries=1,
        similarity_top_k=TOP,
        use_async=False,
    )
    runs = []
    for text, vec in zip(ds.query_texts, q, strict=True):
        hits = fusion.retrieve(QueryBundle(query_str=text, embedding=vec.tolist()))
        runs.append([h.node.node_id for h in hits])
    return mean_ndcg(ds, runs), runs


def ours_end_to_end(ds: BeirDataset, q: np.ndarray, d: np.ndarray) -> float:
    """The shipped default, through the real HybridRetriever code path."""
    from llama_index.core.embeddings import MockEmbedding

    nodes = [
        TextNode(text=t, id_=i, embedding=v.tolist())
        for i, t, v in zip(ds.doc_ids, ds.doc_texts, d, strict=True)
    ]
    retriever = HybridRetriever.from_nodes(
        nodes, embed_model=MockEmbedding(embed_dim=d.shape[1]), similarity_top_k=TOP
    )
    runs = []
    for text, vec in zip(ds.query_texts, q, strict=True):
        hits = retriever.retrieve(QueryBundle(query_str=text, embedding=vec.tolist()))
        runs.append([h.node.node_id for h in hits])
    return mean_ndcg(ds, runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "datasets",
        nargs="*",
        type=Path,
        help=f"BEIR dataset directories (default: {', '.join(FULL_SETS)} from ../shared/evaldata;"
        f" --quick: {', '.join(QUICK_SETS)})",
    )
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE, type=Path)
    parser.add_argument("--grid", action="store_true", help="also print the tuning grid")
    parser.add_argument(
        "--quick", action="store_true", help="first 100 queries over 1,000 documents of each corpus"
    )
    parser.add_argument("--baseline-top-k", type=int, default=10, help="sub-retriever top_k")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    datasets = args.datasets or [evaldata(n) for n in (QUICK_SETS if args.quick else FULL_SETS)]

    compared = f"HybridRetriever vs QueryFusionRetriever (RRF, {args.baseline_top_k} each)"
    rows = []
    summary: list[Row] = []
    grid: dict[tuple[object, ...], list[float]] = {}
    for path in datasets:
        reason = missing_data(path)
        if reason:
            print(f"{path.name}: skipped, {reason}", file=sys.stderr, flush=True)
            summary.append(skipped(compared, reason, metric=f"nDCG@10 {path.name}"))
            continue
        ds, q, d = load_with_vectors(path, args.cache_dir, quick=args.quick)
        t = time.perf_counter()
        base, _ = baseline_query_fusion(ds, q, d, args.baseline_top_k)
        # LlamaIndex leaves the sub-retrievers' depth to the user: also report its best.
        best_base = max(
            [base]
            + [baseline_query_fusion(ds, q, d, k)[0] for k in (20, 50, 100) if not args.quick]
        )
        dense = dense_runs(q, d, ds, 1000)
        default_tok = BM25Tokenizer()
        bm25 = bm25_runs(ds, default_tok, 1000)
        plain = bm25_runs(
            ds, BM25Tokenizer(stopwords=None, stemmer=None, token_pattern=r"(?u)\w+"), 1000
        )
        ours = ours_end_to_end(ds, q, d)
        rows.append(
            (
                ds.name,
                mean_ndcg(ds, plain),
                mean_ndcg(ds, bm25),
                mean_ndcg(ds, dense),
                base,
                best_base,
                ours,
            )
        )
        summary.append(Row(compared, f"nDCG@10 {ds.name}", ours, base, "higher"))
        print(f"{ds.name}: done in {time.perf_counter() - t:.0f}s", flush=True)
        if args.grid:
            toks = {
                "en_plus+stem": default_tok,
                "en+stem": BM25Tokenizer(stopwords="en"),
            }
            for tname, tok in toks.items():
                for idf in ("okapi", "lucene"):
                    runs = (
                        bm25_runs(ds, tok, 1000, idf=idf)
                        if (tname, idf) != ("en_plus+stem", "okapi")
                        else bm25
                    )
                    for k, w, depth in itertools.product(
                        (10, 20, 60), ((1.0, 1.0), (1.0, 1.25), (1.25, 1.0)), (50, 100, 1000)
                    ):
                        key = (tname, idf, k, w, depth)
                        grid.setdefault(key, []).append(
                            mean_ndcg(ds, fuse(runs, dense, k, w, depth))
                        )

    print()
    print(
        f"{'dataset':<10} {'bm25 plain':>10} {'bm25 ours':>9} {'dense':>7} "
        f"{'QFR@10':>7} {'QFR best':>8} {'ours':>7} {'vs @10':>7} {'vs best':>7}"
    )
    for name, plain_s, bm, de, base, best_base, ours in rows:
        print(
            f"{name:<10} {plain_s:>10.4f} {bm:>9.4f} {de:>7.4f} {base:>7.4f} {best_base:>8.4f} "
            f"{ours:>7.4f} {ours - base:>+7.4f} {ours - best_base:>+7.4f}"
        )
    print(
        "QFR@10: QueryFusionRetriever (RRF) over LlamaIndex BM25Retriever + vector retriever,"
        f" {args.baseline_top_k} candidates each; QFR best: best of 10/20/50/100 candidates."
    )
    if grid:
        bases = [r[4] for r in rows]
        print("\nGrid (min delta over datasets vs QueryFusionRetriever), best 15:")
        ranked = sorted(
            grid.items(), key=lambda kv: -min(s - b for s, b in zip(kv[1], bases, strict=True))
        )
        for key, scores in ranked[:15]:
            deltas = [s - b for s, b in zip(scores, bases, strict=True)]
            print(
                f"  {key!s:<55} "
                + " ".join(f"{s:.4f}" for s in scores)
                + f"  min delta {min(deltas):+.4f}"
            )
    write_summary(args.summary, summary)


if __name__ == "__main__":
    main()
