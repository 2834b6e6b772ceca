"""Vector store: CachedQdrantVectorStore vs LlamaIndex's QdrantVectorStore, local mode.

For 10k and 100k random unit vectors of 384 dimensions (``--quick``: 10k only), measured
in one run on the same in-memory Qdrant collection:

- ``query p50``: uncached query through ours vs ``QdrantVectorStore`` (interleaved,
  same query vectors); goal ours/theirs <= 1.05;
- ``cached p50``: the same queries repeated through ours with the query cache on (the
  default freshness check, at most once a second); goal < 1 ms and >= 50x faster than
  uncached; ``cached, check every query``: the same with ``freshness_interval=0`` (the
  point-count check for writers outside the client and the cache on every query: its cost
  is the difference);
- ``ingest``: adding 10k nodes through ours vs ``QdrantVectorStore.add`` into fresh
  collections (median of repeats); goal ours/theirs <= 1.0;
- ``embed p50``: ``CachedEmbedding`` on repeated questions vs the bare MiniLM model;
  goal >= 100x.

Usage: ``python -m benchmarks.vector_store [--quick] [--queries N] [--repeats N] [--summary PATH]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks._summary import Row, add_summary_option, write_summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DIM = 384
QUESTIONS = [
    "what is a vector database",
    "how does bm25 rank documents",
    "when does the with statement call __exit__",
    "how long should bread dough rise",
    "why rerank with a cross-encoder",
]


def make_nodes(start: int, count: int, seed: int) -> list[Any]:
    import numpy as np
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    rng = np.random.default_rng(seed + start)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        TextNode(
            id_=f"00000000-0000-4000-8000-{start + i:012d}",  # UUIDs: both stores accept them
            text=f"passage {start + i} with a few words of text",
            metadata={"i": start + i, "group": (start + i) % 10},
            embedding=vectors[i].tolist(),
            relationships={
                NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{(start + i) // 5}")
            },
        )
        for i in range(count)
    ]


def batches(total: int, size: int = 5000) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(size, total - start)


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_queries(points: int, n_queries: int) -> dict[str, float]:
    import numpy as np
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from ragdrop.vector_stores import CachedQdrantVectorStore

    client = QdrantClient(":memory:")
    loader = CachedQdrantVectorStore("bench", client=client)
    for start, count in batches(points):
        loader.add(make_nodes(start, count, seed=1))
    ours = CachedQdrantVectorStore("bench", client=client)
    theirs = QdrantVectorStore("bench", client=client)
    with tempfile.TemporaryDirectory() as cache_dir:
        cached = CachedQdrantVectorStore("bench", client=client, cache_dir=cache_dir)
        checked = CachedQdrantVectorStore(
            "bench", client=client, cache_dir=cache_dir, freshness_interval=0
        )
        rng = np.random.default_rng(99)
        queries = [
            VectorStoreQuery(query_embedding=v.tolist(), similarity_top_k=10)
            for v in rng.normal(size=(n_queries, DIM)).astype(np.float32)
        ]
        for q in queries[:3]:  # warm both paths
            ours.query(q)
            theirs.query(q)
        t_ours, t_theirs, t_cached, t_checked = [], [], [], []
        for i, q in enumerate(queries):
            pair = [(ours, t_ours), (theirs, t_theirs)]
            for store, samples in pair if i % 2 == 0 else pair[::-1]:
                samples.append(timed(lambda s=store, q=q: s.query(q)))
            if ours.query(q).ids != [n.node_id for n in theirs.query(q).nodes]:
                raise AssertionError("ours and QdrantVectorStore disagree on a query")
            cached.query(q)  # fill
            t_cached.append(timed(lambda q=q: cached.query(q)))
            t_checked.append(timed(lambda q=q: checked.query(q)))
        cached.close()
    client.close()
    return {
        "ours_ms": p50_ms(t_ours),
        "theirs_ms": p50_ms(t_theirs),
        "cached_ms": p50_ms(t_cached),
        "checked_ms": p50_ms(t_checked),
    }


def bench_ingest(points: int, repeats: int) -> dict[str, float]:
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from ragdrop.vector_stores import CachedQdrantVectorStore

    nodes = make_nodes(0, points, seed=2)
    t_ours, t_theirs = [], []
    for r in range(repeats):
        runs = [
            (lambda c: CachedQdrantVectorStore("ingest", client=c).add(nodes), t_ours),
            (lambda c: QdrantVectorStore("ingest", client=c).add(nodes), t_theirs),
        ]
        for fn, samples in runs if r % 2 == 0 else runs[::-1]:
            client = QdrantClient(":memory:")
            samples.append(timed(lambda fn=fn, client=client: fn(client)))
            client.close()
    return {"ours_s": statistics.median(t_ours), "theirs_s": statistics.median(t_theirs)}


def bench_embedding(rounds: int) -> dict[str, float]:
    from ragdrop.cache import CachedEmbedding
    from ragdrop.embeddings import SentenceTransformerEmbedding

    model = SentenceTransformerEmbedding()
    model.warm_up()
    with tempfile.TemporaryDirectory() as cache_dir:
        cached = CachedEmbedding(embed_model=model, cache_dir=cache_dir)
        disk_only = CachedEmbedding(embed_model=model, cache_dir=cache_dir, memory_items=0)
        for q in QUESTIONS:
            cached.get_query_embedding(q)
        t_bare, t_cached, t_disk = [], [], []
        for _ in range(rounds):
            for q in QUESTIONS:
                t_bare.append(timed(lambda q=q: model.get_query_embedding(q)))
                t_cached.append(timed(lambda q=q: cached.get_query_embedding(q)))
                t_disk.append(timed(lambda q=q: disk_only.get_query_embedding(q)))
        cached.close()
    return {"bare_ms": p50_ms(t_bare), "cached_ms": p50_ms(t_cached), "disk_ms": p50_ms(t_disk)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k points only")
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument("--repeats", type=int, default=3, help="ingest repeats")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # local mode warns about payload indexes
    sizes = [10_000] if args.quick else [10_000, 100_000]

    rows: list[tuple[str, str, str, str, str]] = []
    summary: list[Row] = []
    ours_vs_li = "CachedQdrantVectorStore vs QdrantVectorStore"
    for size in sizes:
        r = bench_queries(size, args.queries)
        summary.append(
            Row(ours_vs_li, f"query p50 @{size // 1000}k (ms)", r["ours_ms"], r["theirs_ms"])
        )
        summary.append(
            Row(
                "CachedQdrantVectorStore cached vs uncached",
                f"query p50 @{size // 1000}k (ms)",
                r["cached_ms"],
                r["ours_ms"],
            )
        )
        ratio = r["ours_ms"] / r["theirs_ms"]
        speedup = r["ours_ms"] / r["cached_ms"]
        rows.append(
            (
                f"query p50 @{size // 1000}k",
                f"{r['ours_ms']:.2f} ms",
                f"{r['theirs_ms']:.2f} ms",
                f"{ratio:.3f}x",
                "<= 1.05x " + ("met" if ratio <= 1.05 else "NOT met"),
            )
        )
        rows.append(
            (
                f"cached p50 @{size // 1000}k",
                f"{r['cached_ms']:.3f} ms",
                f"{r['ours_ms']:.2f} ms (uncached)",
                f"{speedup:.0f}x faster",
                "< 1 ms, >= 50x " + ("met" if r["cached_ms"] < 1 and speedup >= 50 else "NOT met"),
            )
        )
        summary.append(
            Row(
                "CachedQdrantVectorStore cached, check every query vs uncached",
                f"query p50 @{size // 1000}k (ms)",
                r["checked_ms"],
                r["ours_ms"],
            )
        )
        checked = r["ours_ms"] / r["checked_ms"]
        rows.append(
            (
                f"cached p50 @{size // 1000}k, check every query",
                f"{r['checked_ms']:.3f} ms",
                f"{r['ours_ms']:.2f} ms (uncached)",
                f"{checked:.0f}x faster (check: {r['checked_ms'] - r['cached_ms']:+.3f} ms)",
                ">= 50x " + ("met" if checked >= 50 else "NOT met"),
            )
        )
    ing = bench_ingest(10_000, args.repeats)
    summary.append(Row(ours_vs_li, "ingest 10k (s)", ing["ours_s"], ing["theirs_s"]))
    ratio = ing["ours_s"] / ing["theirs_s"]
    rows.append(
        (
            "ingest 10k",
            f"{ing['ours_s']:.2f} s",
            f"{ing['theirs_s']:.2f} s",
            f"{ratio:.3f}x",
            "<= 1.0x " + ("met" if ratio <= 1.0 else "NOT met"),
        )
    )
    emb = bench_embedding(rounds=20)
    summary.append(
        Row(
            "CachedEmbedding vs bare MiniLM",
            "query embed p50 (ms)",
            emb["cached_ms"],
            emb["bare_ms"],
        )
    )
    speedup = emb["bare_ms"] / emb["cached_ms"]
    rows.append(
        (
            "embed query p50",
            f"{emb['cached_ms']:.4f} ms",
            f"{emb['bare_ms']:.2f} ms (bare)",
            f"{speedup:.0f}x faster",
            ">= 100x " + ("met" if speedup >= 100 else "NOT met"),
        )
    )
    rows.append(
        (
            "embed (disk only)",
            f"{emb['disk_ms']:.3f} ms",
            f"{emb['bare_ms']:.2f} ms (bare)",
            f"{emb['bare_ms'] / emb['disk_ms']:.0f}x faster",
            "(no in-memory LRU)",
        )
    )
    header = ("measure", "ours", "baseline", "ratio", "goal")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print("baseline: llama_index.vector_stores.qdrant.QdrantVectorStore, same local-mode client")
    write_summary(args.summary, summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
