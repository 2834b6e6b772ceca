"""nDCG@10 of ragdrop's HybridRetriever vs LlamaIndex's QueryFusionRetriever on BEIR datasets.

    .venv/bin/python -m benchmarks.retrieval_quality /work/shared/evaldata/scifact \
        /work/shared/evaldata/cranfield /work/shared/evaldata/cisi [--grid] [--quick]

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
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from llama_index.core import VectorStoreIndex  # noqa: E402
from llama_index.core.schema import QueryBundle, TextNode  # noqa: E402
from ragdrop.retrievers.bm25.index import BM25Index  # noqa: E402
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer  # noqa: E402
from ragdrop.retrievers.fusion import rrf_scores  # noqa: E402

from benchmarks._beir import BeirDataset, cached_embeddings, load_beir, ndcg_at_k  # noqa: E402

TOP = 10


def _embed_model():  # type: ignore[no-untyped-def]
    from ragdrop.embeddings import SentenceTransformerEmbedding

    return SentenceTransformerEmbedding()


def load_with_vectors(path: str, cache_dir: Path) -> tuple[BeirDataset, np.ndarray, np.ndarray]:
    ds = load_beir(path)
    model = _embed_model()
    q = cached_embeddings(ds.query_texts, cache_dir, f"{ds.name}-queries", model)
    d = cached_embeddings(ds.doc_texts, cache_dir, f"{ds.name}-corpus", model)
    return ds, q, d


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
    from ragdrop.retrievers.hybrid import HybridRetriever

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("datasets", nargs="+", help="BEIR dataset directories")
    parser.add_argument("--cache-dir", default="/tmp/ragdrop_emb", type=Path)
    parser.add_argument("--grid", action="store_true", help="also print the tuning grid")
    parser.add_argument("--quick", action="store_true", help="first 100 queries only")
    parser.add_argument("--baseline-top-k", type=int, default=10, help="sub-retriever top_k")
    args = parser.parse_args()

    rows = []
    grid: dict[tuple[object, ...], list[float]] = {}
    for path in args.datasets:
        ds, q, d = load_with_vectors(path, args.cache_dir)
        if args.quick:
            n = min(100, len(ds.query_ids))
            ds = BeirDataset(
                ds.name, ds.doc_ids, ds.doc_texts, ds.query_ids[:n], ds.query_texts[:n], ds.qrels
            )
            q = q[:n]
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


if __name__ == "__main__":
    main()
