"""Speed and memory of ragdrop's BM25/hybrid retrievers vs LlamaIndex, measured in one run.

    .venv/bin/python -m benchmarks.retrievers [--quick] [--scifact DIR] [--summary PATH]

* Synthetic Zipf corpus at 10k/100k/300k chunks (``--quick``: 10k, and 1,000 scifact
  documents below): BM25 query p50 of ``ragdrop.retrievers.BM25Retriever`` vs LlamaIndex's ``BM25Retriever`` (bm25s), the memory
  each retriever retains (tracemalloc, nodes excluded), and at 100k the time to add 1% new
  chunks vs a full rebuild.
* scifact (``--scifact``, default ``../shared/evaldata/scifact``; skipped if missing): BM25
  p50, and hybrid p50 of ``HybridRetriever`` vs LlamaIndex's
  ``QueryFusionRetriever`` (RRF over its BM25Retriever + vector retriever) on the same Qdrant
  local-mode collection, and vs QueryFusionRetriever on LlamaIndex's default in-memory
  ``SimpleVectorStore``. Query embeddings are precomputed and given to both sides, so only
  retrieval is timed (document embeddings are cached in --cache-dir).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from llama_index.core.schema import QueryBundle, TextNode  # noqa: E402

from benchmarks._beir import DEFAULT_CACHE, evaldata, load_with_vectors, missing_data  # noqa: E402
from benchmarks._summary import Row, add_summary_option, skipped, write_summary  # noqa: E402
from ragdrop.retrievers import BM25Retriever, HybridRetriever  # noqa: E402

TOP_K = 10
OURS_BM25 = "BM25Retriever vs LlamaIndex BM25Retriever (bm25s)"
HYBRID_VS_QFR = "HybridRetriever vs QueryFusionRetriever (RRF)"


@dataclass(frozen=True)
class Line:
    """One measure of the printed table; ``formats`` are those of ours, theirs and the ratio."""

    corpus: str
    metric: str
    ours: float
    theirs: float
    goal: str
    compared: str = OURS_BM25
    formats: tuple[str, str, str] = (".2f", ".2f", ".2f")

    def cells(self) -> tuple[str, ...]:
        f_ours, f_theirs, f_ratio = self.formats
        return (
            self.corpus,
            self.metric,
            f"{self.ours:{f_ours}}",
            f"{self.theirs:{f_theirs}}",
            f"{self.ours / self.theirs:{f_ratio}}",
            self.goal,
        )

    def summary(self) -> Row:
        return Row(self.compared, f"{self.corpus}: {self.metric}", self.ours, self.theirs)


def zipf_corpus(n_docs: int, seed: int = 0, vocab: int = 200_000, mean_len: int = 120) -> list[str]:
    """Chunks of pseudo-words whose frequencies follow Zipf's law (exponent 1.1)."""
    rng = np.random.default_rng(seed)
    words = np.array([_word(i) for i in range(vocab)])
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    p /= p.sum()
    lengths = np.clip(rng.normal(mean_len, mean_len / 3, n_docs).astype(int), 5, None)
    ids = rng.choice(vocab, size=int(lengths.sum()), p=p)
    out, start = [], 0
    for n in lengths:
        out.append(" ".join(words[ids[start : start + n]]))
        start += n
    return out


def zipf_queries(n: int, seed: int = 1, vocab: int = 200_000) -> list[str]:
    """Queries of 2-6 words, skipping the 50 most frequent (stopword-like) ranks."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(51, vocab + 1) ** 1.1
    p /= p.sum()
    return [
        " ".join(_word(50 + int(i)) for i in rng.choice(vocab - 50, size=rng.integers(2, 7), p=p))
        for _ in range(n)
    ]


def _word(i: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    s = "q"
    i += 1
    while i:
        i, r = divmod(i, len(letters))
        s += letters[r] + "a"
    return s


def p50_ms(fn: Callable[[Any], Any], queries: list[Any], repeats: int = 1) -> float:
    fn(queries[0])
    times = []
    for _ in range(repeats):
        for q in queries:
            t = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def retained_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    obj = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return obj, after - before


def llama_bm25(nodes: list[TextNode]) -> Any:
    from llama_index.retrievers.bm25 import BM25Retriever as LlamaBM25

    return LlamaBM25.from_defaults(nodes=nodes, similarity_top_k=TOP_K)


def ours_bm25(nodes: list[TextNode]) -> BM25Retriever:
    return BM25Retriever(nodes=nodes, similarity_top_k=TOP_K)


def synthetic(n_docs: int, n_queries: int, memory: bool, rows: list[Line]) -> None:
    texts = zipf_corpus(n_docs)
    nodes = [TextNode(text=t, id_=f"z{i}") for i, t in enumerate(texts)]
    queries = zipf_queries(n_queries)
    ours, t_ours = timed(lambda: ours_bm25(nodes))
    theirs, t_theirs = timed(lambda: llama_bm25(nodes))
    q_ours = p50_ms(ours.retrieve, queries)
    q_theirs = p50_ms(theirs.retrieve, queries)
    label = f"zipf {n_docs // 1000}k"
    rows.append(Line(label, "BM25 query p50 (ms)", q_ours, q_theirs, "<= 1"))
    rows.append(Line(label, "BM25 build (s)", t_ours, t_theirs, "", formats=(".1f", ".1f", ".2f")))
    if n_docs == 100_000:
        extra = [
            TextNode(text=t, id_=f"new{i}")
            for i, t in enumerate(zipf_corpus(n_docs // 100, seed=7))
        ]
        start = time.perf_counter()
        ours.add_nodes(extra)
        t_add = time.perf_counter() - start
        _, t_rebuild = timed(lambda: ours_bm25(nodes + extra))
        rows.append(
            Line(
                label,
                "add 1% vs rebuild (s)",
                t_add,
                t_rebuild,
                "<= 0.05",
                compared="BM25Retriever add 1% vs full rebuild",
                formats=(".2f", ".1f", ".3f"),
            )
        )
    del ours, theirs
    if memory:
        _, m_ours = retained_bytes(lambda: ours_bm25(nodes))
        _, m_theirs = retained_bytes(lambda: llama_bm25(nodes))
        rows.append(
            Line(
                label,
                "retained memory (MB)",
                m_ours / 1e6,
                m_theirs / 1e6,
                "<= 1",
                formats=(".0f", ".0f", ".2f"),
            )
        )


def scifact(path: Path, cache_dir: Path, n_queries: int, quick: bool, rows: list[Line]) -> None:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from qdrant_client import QdrantClient

    from ragdrop.vector_stores import CachedQdrantVectorStore

    ds, qv, dv = load_with_vectors(path, cache_dir, quick=quick)
    nodes = [
        TextNode(text=t, id_=i, embedding=v.tolist())
        for i, t, v in zip(ds.doc_ids, ds.doc_texts, dv, strict=True)
    ]
    bundles = [
        QueryBundle(query_str=t, embedding=v.tolist())
        for t, v in list(zip(ds.query_texts, qv, strict=True))[:n_queries]
    ]
    mock = MockEmbedding(embed_dim=dv.shape[1])
    ours = ours_bm25(nodes)
    theirs = llama_bm25(nodes)
    q_ours, q_theirs = p50_ms(ours.retrieve, bundles, 3), p50_ms(theirs.retrieve, bundles, 3)
    rows.append(Line("scifact", "BM25 query p50 (ms)", q_ours, q_theirs, "<= 1"))

    def qfr(index: Any) -> QueryFusionRetriever:
        return QueryFusionRetriever(
            [theirs, index.as_retriever(similarity_top_k=TOP_K)],
            mode="reciprocal_rerank",  # type: ignore[arg-type]
            llm=MockLLM(),
            num_queries=1,
            similarity_top_k=TOP_K,
        )

    store = CachedQdrantVectorStore("scifact", client=QdrantClient(location=":memory:"))
    qdrant_index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=mock
    )
    hybrid = HybridRetriever(ours, vector_index=qdrant_index, similarity_top_k=TOP_K)
    h_ours = p50_ms(hybrid.retrieve, bundles, 3)
    h_qfr_qdrant = p50_ms(qfr(qdrant_index).retrieve, bundles, 3)
    rows.append(
        Line(
            "scifact",
            "hybrid p50, same Qdrant collection (ms)",
            h_ours,
            h_qfr_qdrant,
            "<= 0.8",
            compared=HYBRID_VS_QFR,
        )
    )
    # Out of the box: HybridRetriever.from_nodes vs QueryFusionRetriever over LlamaIndex's
    # default in-memory SimpleVectorStore.
    default_hybrid = HybridRetriever.from_nodes(nodes, embed_model=mock, similarity_top_k=TOP_K)
    h_default = p50_ms(default_hybrid.retrieve, bundles, 3)
    simple_index = VectorStoreIndex(nodes, embed_model=mock)
    h_qfr_simple = p50_ms(qfr(simple_index).retrieve, bundles[: max(10, n_queries // 2)])
    rows.append(
        Line(
            "scifact",
            "hybrid p50, out of the box (ms)",
            h_default,
            h_qfr_simple,
            "<= 0.1",
            compared=HYBRID_VS_QFR,
            formats=(".2f", ".1f", ".3f"),
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="10k synthetic chunks; 1,000 scifact documents"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated corpus sizes, or none")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc builds")
    parser.add_argument(
        "--scifact", default=evaldata("scifact"), type=Path, help="BEIR scifact directory"
    )
    parser.add_argument("--no-scifact", action="store_true", help="synthetic corpora only")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE, type=Path)
    add_summary_option(parser)
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [10_000, 100_000, 300_000]
    if args.sizes:
        sizes = [] if args.sizes == "none" else [int(s) for s in args.sizes.split(",")]
    rows: list[Line] = []
    for n in sizes:
        synthetic(n, args.queries, not args.no_memory, rows)
        print(f"done {n}", flush=True)
    not_run: list[Row] = []
    reason = "--no-scifact" if args.no_scifact else missing_data(args.scifact)
    if reason:
        print(f"scifact skipped: {reason}", flush=True)
        not_run.append(skipped(HYBRID_VS_QFR, reason))
    else:
        scifact(args.scifact, args.cache_dir, args.queries, args.quick, rows)
    header = ("corpus", "metric", "ragdrop", "LlamaIndex", "ratio", "goal")
    cells = [row.cells() for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *cells]) for i in range(len(header))]
    for line in [header, *cells]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    write_summary(args.summary, [row.summary() for row in rows] + not_run)


if __name__ == "__main__":
    main()
