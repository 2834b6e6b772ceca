"""Edge indexes itself (issue 16, item 7): a store filled by plain ``add`` against the same store
after ``optimize()``, against the old synchronous doubling and against qdrant-client local mode.

scifact's MiniLM vectors with noise-augmented copies up to ``--points`` (100k; ``--quick``: 10k
from 1,000 abstracts), see ``benchmarks.vector_store_edge``. In one run, each store gets the same
``CachedQdrantVectorStore.add`` calls (batches of 2,000 nodes with their embeddings):

1. Edge with the background optimizer: add wall time (and the builds that ran inside it), then
   a pause of at most ``--pause`` s polling ``get_collection().status`` until green;
2. the same store after an explicit ``optimize()``: a copy of the auto store's folder, opened
   beside it, then ``optimize()``. Query p50 (store, cache off) and recall@10 against exact
   numpy search are taken in ``--rounds`` alternating rounds over the same query set (auto, then
   optimized, then auto at Qdrant's default ``hnsw_ef``: the cost of Edge's default ef), each
   round after a warm-up of its own; the reported p50 is the median of the rounds' p50s;
3. Edge with the old synchronous doubling (a build inside the write once the unindexed points
   outnumber the indexed ones), the same pause, for the add wall time and p50;
4. qdrant-client local mode (``:memory:``), fewer queries (it scans in Python).

It also times one query three ways on the auto-indexed Edge: the store's ``query``, the client's
``query_points`` and Edge's own ``EdgeShard.query``, and profiles the store's share.

    .venv/bin/python -m benchmarks.edge_autoindex            # 100k points
    .venv/bin/python -m benchmarks.edge_autoindex --quick    # 10k points
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as edge
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient

from benchmarks._beir import DEFAULT_CACHE, evaldata, load_beir, load_with_vectors, missing_data
from benchmarks._summary import Row, add_summary_option, skipped, write_summary
from benchmarks.vector_store_edge import exact_top_k, recall_at_k, synthesize
from ragdrop.qdrant_edge import EdgeQdrantClient
from ragdrop.qdrant_edge.convert_config import DEFAULT_SEARCH_EF
from ragdrop.vector_stores import CachedQdrantVectorStore

DEFAULT_DATA = evaldata("scifact")
EVAL_CACHE = Path(".ragdrop/eval_cache")  # `ragdrop eval` keeps scifact's corpus vectors here
BATCH = 2000
K = 10
WARMUP = 30
QDRANT_DEFAULT_EF = 100  # a server's default hnsw_ef: the collection's ef_construct
COMPARED = "Edge filled by add (auto-index) vs optimized / local mode"


def load_vectors(data: Path, cache: Path, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """(corpus, queries) MiniLM vectors: the corpus from ``ragdrop eval``'s cache when it has
    it (embedding all of scifact takes over 10 minutes on 2 cores), else embedded once."""
    if not quick:
        from benchmarks._beir import cached_embeddings
        from ragdrop.embeddings import SentenceTransformerEmbedding
        from ragdrop.evaluation import EmbeddingCache, texts_sha256
        from ragdrop.evaluation.runner import embedding_model_id

        ds = load_beir(data)
        model = SentenceTransformerEmbedding()
        corpus = EmbeddingCache(EVAL_CACHE).get(
            embedding_model_id(model), texts_sha256(ds.doc_texts), len(ds.doc_texts)
        )
        if corpus is not None:
            queries = cached_embeddings(ds.query_texts, cache, f"{ds.name}-queries", model)
            return corpus, queries
    _, queries, corpus = load_with_vectors(data, cache, quick=quick)
    return corpus, queries


def node_id(i: int) -> str:
    return str(uuid.UUID(int=i))


def add_all(
    store: CachedQdrantVectorStore, vectors: np.ndarray, after: Callable[[], None]
) -> float:
    """Add every vector as a node in batches of `BATCH`; seconds of wall time."""
    start = time.perf_counter()
    for first in range(0, len(vectors), BATCH):
        nodes = [
            TextNode(id_=node_id(i), text=f"passage {i}", embedding=v.tolist())
            for i, v in enumerate(vectors[first : first + BATCH], first)
        ]
        store.add(nodes)
        after()
    return time.perf_counter() - start


def wait_green(client: EdgeQdrantClient, pause_s: float) -> float:
    """Poll the collection until a server would call it green; seconds waited (<= pause_s)."""
    start = time.perf_counter()
    while time.perf_counter() - start < pause_s:
        if client.get_collection("bench").status.value == "green":
            break
        time.sleep(0.1)
    return time.perf_counter() - start


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def store_queries(
    store: CachedQdrantVectorStore, queries: np.ndarray, truth: np.ndarray, **kwargs: Any
) -> dict[str, float]:
    """p50 (ms) and recall@10 of ``store.query`` (no cache_dir: no cache), after a warm-up."""
    requests = [VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=K) for q in queries]
    for r in requests[:WARMUP]:  # the first queries after a build or a switch touch cold pages
        store.query(r, **kwargs)
    lat, found = [], []
    for r in requests:
        seconds, result = timed(lambda r=r: store.query(r, **kwargs))
        lat.append(seconds)
        found.append([uuid.UUID(i).int for i in result.ids])
    return {"p50_ms": float(np.median(lat) * 1000), "recall": recall_at_k(found, truth)}


def alternating(
    series: dict[str, Callable[[], dict[str, float]]], rounds: int
) -> dict[str, dict[str, Any]]:
    """Each series once per round, in turn; p50 = the median of the rounds' p50s."""
    taken: dict[str, list[dict[str, float]]] = {name: [] for name in series}
    for _ in range(rounds):
        for name, measure in series.items():
            taken[name].append(measure())
    return {
        name: {
            "p50_ms": float(np.median([m["p50_ms"] for m in runs])),
            "rounds_ms": [round(m["p50_ms"], 3) for m in runs],
            "recall": runs[0]["recall"],
        }
        for name, runs in taken.items()
    }


def layer_overheads(
    store: CachedQdrantVectorStore, client: EdgeQdrantClient, queries: np.ndarray
) -> dict[str, Any]:
    """p50 (ms) of one query through the store, the client and Edge's shard, interleaved."""
    shard = client.backend.collection("bench").shard
    same_ef = edge.SearchParams(hnsw_ef=DEFAULT_SEARCH_EF, exact=False)  # what the client sends
    layers: dict[str, Callable[[list[float]], Any]] = {
        "store": lambda q: store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=K)),
        "client": lambda q: client.query_points("bench", query=q, limit=K, with_payload=True),
        "shard": lambda q: shard.query(
            edge.QueryRequest(
                limit=K, query=edge.Query.Nearest(q), with_payload=True, params=same_ef
            )
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in layers}
    for q in queries[:WARMUP]:
        for fn in layers.values():
            fn(q.tolist())
    for q in queries:
        vector = q.tolist()
        for name, fn in layers.items():
            samples[name].append(timed(lambda fn=fn, v=vector: fn(v))[0])
    out: dict[str, Any] = {f"{n}_ms": float(np.median(s) * 1000) for n, s in samples.items()}
    profile = cProfile.Profile()
    profile.enable()
    for q in queries:
        layers["store"](q.tolist())
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
    out["profile"] = text.getvalue()
    return out


def doubling(client: EdgeQdrantClient) -> Callable[[], None]:
    """The old write path: build inside the write once unindexed >= indexed points (checked
    after each 2,000-node add; the old code checked after each 256-point upsert of it)."""
    shard = client.backend.collection("bench").shard

    def after() -> None:
        info = shard.info()
        if info.points_count - info.indexed_vectors_count >= info.indexed_vectors_count:
            shard.optimize()

    return after


def run(args: argparse.Namespace) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # local mode warns above 20k points
    corpus, queries = load_vectors(args.data, args.cache, args.quick)
    vectors = synthesize(corpus, args.points)
    truth = exact_top_k(queries, vectors, np.arange(len(vectors)), K)
    out: dict[str, Any] = {"points": len(vectors), "queries": len(queries)}
    workdir = Path(tempfile.mkdtemp(prefix="ragdrop-autoindex-"))
    nothing: Callable[[], None] = lambda: None  # noqa: E731
    try:
        log("auto: background optimizer")
        client = EdgeQdrantClient(path=workdir / "auto")
        store = CachedQdrantVectorStore("bench", client=client)
        optimizer = client.backend.optimizer
        out["auto_add_s"] = add_all(store, vectors, nothing)
        out["burst_builds"], out["burst_build_s"] = optimizer.builds, optimizer.build_s
        out["auto_wait_s"] = wait_green(client, args.pause)
        info = client.get_collection("bench")
        out["auto_status"] = info.status.value
        out["auto_indexed"] = f"{info.indexed_vectors_count}/{info.points_count}"
        out["auto_builds"], out["auto_build_s"] = optimizer.builds, optimizer.build_s
        client.close()
        log("optimized: a copy of the auto store, then optimize(); alternating rounds")
        shutil.copytree(workdir / "auto", workdir / "optimized")
        client = EdgeQdrantClient(path=workdir / "auto")
        store = CachedQdrantVectorStore("bench", client=client)
        opt_client = EdgeQdrantClient(path=workdir / "optimized")
        opt_store = CachedQdrantVectorStore("bench", client=opt_client)
        out["optimize_s"], out["optimize_built"] = timed(lambda: opt_client.optimize("bench"))
        out.update(
            alternating(
                {
                    "auto": lambda: store_queries(store, queries, truth),
                    "optimized": lambda: store_queries(opt_store, queries, truth),
                    "auto_ef100": lambda: store_queries(
                        store, queries, truth, hnsw_ef=QDRANT_DEFAULT_EF
                    ),
                },
                args.rounds,
            )
        )
        out["layers"] = layer_overheads(store, client, queries)
        opt_client.close()
        client.close()

        log("doubling: the old synchronous rebuilds")
        client = EdgeQdrantClient(path=workdir / "doubling", auto_optimize=False)
        store = CachedQdrantVectorStore("bench", client=client)
        store.add([TextNode(id_=node_id(0), text="passage 0", embedding=vectors[0].tolist())])
        out["doubling_add_s"] = add_all(store, vectors, doubling(client))
        time.sleep(min(args.pause, 5))  # nothing runs in a pause: no optimizer
        info = client.get_collection("bench")
        out["doubling_indexed"] = f"{info.indexed_vectors_count}/{info.points_count}"
        out["doubling"] = store_queries(store, queries, truth)
        client.close()

        log("local: qdrant-client local mode (:memory:)")
        local = QdrantClient(location=":memory:")
        store = CachedQdrantVectorStore("bench", client=local)
        out["local_add_s"] = add_all(store, vectors, nothing)
        n = out["local_queries"] = min(len(queries), args.local_queries)
        out["local"] = store_queries(store, queries[:n], truth[:n])
        local.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def report(r: dict[str, Any]) -> str:
    auto, opt, old, local = r["auto"], r["optimized"], r["doubling"], r["local"]
    ef100 = r["auto_ef100"]
    layers = r["layers"]
    ratio_opt = auto["p50_ms"] / opt["p50_ms"]
    ratio_local = local["p50_ms"] / auto["p50_ms"]
    lines = [
        f"{r['points']} points added in batches of {BATCH} via CachedQdrantVectorStore.add, "
        f"{r['queries']} queries (local mode: {r['local_queries']})",
        f"{'store':<28}{'add s':>8}{'p50 ms':>9}{'R@10':>7}",
        f"{'Edge auto-index':<28}{r['auto_add_s']:>8.1f}{auto['p50_ms']:>9.3f}{auto['recall']:>7.3f}",
        f"{'Edge after optimize()':<28}{'':>8}{opt['p50_ms']:>9.3f}{opt['recall']:>7.3f}",
        f"{'Edge auto, hnsw_ef=100':<28}{'':>8}{ef100['p50_ms']:>9.3f}{ef100['recall']:>7.3f}",
        f"{'Edge old doubling':<28}{r['doubling_add_s']:>8.1f}{old['p50_ms']:>9.3f}"
        f"{old['recall']:>7.3f}",
        f"{'local mode :memory:':<28}{r['local_add_s']:>8.1f}{local['p50_ms']:>9.3f}"
        f"{local['recall']:>7.3f}",
        f"p50 per round (ms): auto {auto['rounds_ms']}, optimized {opt['rounds_ms']}, auto at "
        f"ef 100 {ef100['rounds_ms']}",
        f"auto: {r['burst_builds']} builds ({r['burst_build_s']:.1f} s) inside the adds; green "
        f"after {r['auto_wait_s']:.1f} s of pause ({r['auto_status']}, indexed "
        f"{r['auto_indexed']}, {r['auto_builds']} builds, {r['auto_build_s']:.1f} s in all); "
        f"explicit optimize() then took {r['optimize_s']:.2f} s (built: {r['optimize_built']}); "
        f"old doubling left {r['doubling_indexed']} indexed",
        f"per query p50: store {layers['store_ms']:.3f} ms, client.query_points "
        f"{layers['client_ms']:.3f} ms, EdgeShard.query {layers['shard_ms']:.3f} ms -> store adds "
        f"{layers['store_ms'] - layers['client_ms']:.3f} ms, client adds "
        f"{layers['client_ms'] - layers['shard_ms']:.3f} ms",
        "",
        f"  [{'met' if ratio_opt <= 1.5 else 'MISSED'}] auto/optimized p50 = {ratio_opt:.2f}x "
        "(goal <= 1.5x)",
        f"  [{'met' if ratio_local >= 20 else 'MISSED'}] local/auto p50 = {ratio_local:.1f}x "
        "(goal >= 20x)",
        f"  [{'met' if auto['recall'] >= 0.98 else 'MISSED'}] auto recall@10 = "
        f"{auto['recall']:.3f} (goal >= 0.98)",
        f"  default hnsw_ef {DEFAULT_SEARCH_EF} vs Qdrant's 100: recall@10 "
        f"{auto['recall']:.3f} vs {ef100['recall']:.3f}, p50 {auto['p50_ms']:.3f} vs "
        f"{ef100['p50_ms']:.3f} ms ({auto['p50_ms'] - ef100['p50_ms']:+.3f} ms)",
        f"  add wall time: background {r['auto_add_s']:.1f} s vs old doubling "
        f"{r['doubling_add_s']:.1f} s ({r['auto_add_s'] / r['doubling_add_s']:.2f}x)",
    ]
    return "\n".join(lines)


def summary_rows(r: dict[str, Any]) -> list[Row]:
    n = f"@{r['points'] // 1000}k"
    return [
        Row("Edge auto-index vs after optimize()", f"query p50 {n} (ms)",
            r["auto"]["p50_ms"], r["optimized"]["p50_ms"]),
        Row("Edge auto-index vs local mode", f"query p50 {n} (ms)",
            r["auto"]["p50_ms"], r["local"]["p50_ms"]),
        Row("Edge auto-index vs old doubling", f"add {n} wall (s)",
            r["auto_add_s"], r["doubling_add_s"]),
        Row("Edge auto-index vs exact", "recall@10", r["auto"]["recall"], 1.0, "higher"),
        Row("store.query vs EdgeShard.query", "query p50 (ms)",
            r["layers"]["store_ms"], r["layers"]["shard_ms"]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k points instead of 100k")
    parser.add_argument("--points", type=int, default=None, help="points (default 100k)")
    parser.add_argument("--pause", type=float, default=30.0, help="longest pause after adds (s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR scifact directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding .npy cache")
    parser.add_argument("--local-queries", type=int, default=40, help="queries timed on local")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--profile", action="store_true", help="print the store query profile")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    args.points = args.points or (10_000 if args.quick else 100_000)
    reason = missing_data(args.data)
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        write_summary(args.summary, [skipped(COMPARED, reason)])
        return
    result = run(args)
    if args.profile:
        print(result["layers"]["profile"])
    print(report(result))
    write_summary(args.summary, summary_rows(result))


if __name__ == "__main__":
    main()
