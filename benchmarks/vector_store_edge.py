"""Qdrant Edge (``EdgeQdrantClient``) against qdrant-client local mode, on real embeddings.

The scifact corpus (5,183 abstracts) embedded with all-MiniLM-L6-v2, repeated with small
Gaussian perturbations (noise 0.01 per dimension, renormalised: cosine ~0.98 to the original)
up to ``--points`` (100k), queried with scifact's 300 real queries (``--quick``: 10k points
from 1,000 abstracts, 100 queries; see ``benchmarks._beir.quick_subset``). Each
backend runs in its own subprocess (clean peak RSS, no shared caches) and reports:

- ingest: ``upload_points`` of every point (payload ``bucket`` = 1 of 10 keywords), Edge
  including its HNSW build, local mode on an on-disk path and in memory;
- query p50 (top-10, payloads off) without filter and with the 10% keyword filter
  ``bucket == "b3"`` (Edge has a keyword payload index; local mode ignores indexes);
- recall@10 against exact numpy search (filtered recall against the exact filtered top-10);
- peak RSS of the worker minus its RSS before the client was opened.

Embeddings are computed once and cached as ``.npy`` under ``--cache`` (never in the repo).
The data defaults to ``../shared/evaldata/scifact`` beside the repository.

    .venv/bin/python -m benchmarks.vector_store_edge            # 100k points
    .venv/bin/python -m benchmarks.vector_store_edge --quick    # 10k points, 1,000 abstracts
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient

from benchmarks._beir import DEFAULT_CACHE, evaldata, load_with_vectors, missing_data
from benchmarks._summary import Row, add_summary_option, skipped, write_summary
from ragdrop.vector_stores import EdgeQdrantClient, embedded_client

DEFAULT_DATA = evaldata("scifact")
BACKENDS = ("edge", "local-disk", "local-memory")
NOISE = 0.01
K = 10
BUCKETS = 10
FILTER_BUCKET = "b3"


# -- data ---------------------------------------------------------------------------------


def load_embeddings(
    data_dir: Path, cache_dir: Path, quick: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(corpus, judged queries) MiniLM embeddings of a BEIR dataset, embedded once and cached.

    ``quick``: 100 queries over 1,000 documents (``benchmarks._beir.quick_subset``).
    """
    _, queries, corpus = load_with_vectors(data_dir, cache_dir, quick=quick)
    return corpus, queries


def synthesize(corpus: np.ndarray, n: int, noise: float = NOISE, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors: the corpus, then perturbed copies of it (deterministic)."""
    rng = np.random.default_rng(seed)
    parts, total = [corpus], len(corpus)
    while total < n:
        parts.append(corpus + rng.normal(scale=noise, size=corpus.shape).astype(np.float32))
        total += len(corpus)
    vectors = np.concatenate(parts)[:n].astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact top-``k`` by cosine (vectors are unit length)."""
    scores = queries @ vectors.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return ids[np.take_along_axis(top, order, axis=1)]


def recall_at_k(found: list[list[int]], truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t.tolist())) / len(t) for f, t in zip(found, truth, strict=True)])
    )


# -- one backend, in a subprocess -----------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _client(backend: str, path: Path) -> EdgeQdrantClient | QdrantClient:
    if backend == "edge":
        return embedded_client(path, engine="edge")
    if backend == "local-disk":
        return QdrantClient(path=str(path))
    return QdrantClient(location=":memory:")


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    from qdrant_client import models as qm

    warnings.simplefilter("ignore")  # local mode warns above 20k points and about indexes
    corpus, queries = load_embeddings(args.data, args.cache, args.quick)
    vectors = synthesize(corpus, args.points)
    ids = np.arange(len(vectors))
    in_bucket = ids % BUCKETS == int(FILTER_BUCKET[1:])
    truth = exact_top_k(queries, vectors, ids, K)
    truth_filtered = exact_top_k(queries, vectors[in_bucket], ids[in_bucket], K)
    n_queries = len(queries) if args.backend == "edge" else min(len(queries), args.local_queries)
    rss_before = _rss_mb()

    workdir = Path(tempfile.mkdtemp(prefix="ragdrop-edge-bench-"))
    try:
        client = _client(args.backend, workdir / "db")
        client.create_collection(
            "bench",
            vectors_config=qm.VectorParams(size=vectors.shape[1], distance=qm.Distance.COSINE),
        )
        client.create_payload_index("bench", "bucket", qm.PayloadSchemaType.KEYWORD)
        points = (
            qm.PointStruct(
                id=int(i), vector=vectors[i].tolist(), payload={"bucket": f"b{i % BUCKETS}"}
            )
            for i in ids
        )
        start = time.perf_counter()
        client.upload_points("bench", points, batch_size=256, wait=True)
        ingest_s = time.perf_counter() - start
        info = client.get_collection("bench")
        flt = qm.Filter(
            must=[qm.FieldCondition(key="bucket", match=qm.MatchValue(value=FILTER_BUCKET))]
        )
        out: dict[str, Any] = {
            "backend": args.backend,
            "points": int(info.points_count or 0),
            "indexed": int(info.indexed_vectors_count or 0),
            "ingest_s": ingest_s,
            "queries": n_queries,
        }
        for label, query_filter, expected in (
            ("plain", None, truth),
            ("filtered", flt, truth_filtered),
        ):
            for q in queries[:3]:  # warm-up
                client.query_points(
                    "bench", query=q, limit=K, query_filter=query_filter, with_payload=False
                )
            latencies, found = [], []
            for q in queries[:n_queries]:
                start = time.perf_counter()
                hits = client.query_points(
                    "bench", query=q, limit=K, query_filter=query_filter, with_payload=False
                ).points
                latencies.append(time.perf_counter() - start)
                found.append([int(p.id) for p in hits])
            out[f"{label}_p50_ms"] = float(np.median(latencies) * 1000)
            out[f"{label}_recall"] = recall_at_k(found, expected[:n_queries])
        out["rss_mb"] = _rss_mb() - rss_before
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
        client.close()
        return out
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "benchmarks.vector_store_edge", "--worker", backend,
        "--points", str(args.points), "--data", str(args.data), "--cache", str(args.cache),
        "--local-queries", str(args.local_queries), *(["--quick"] if args.quick else []),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{backend} worker failed (exit {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- report ---------------------------------------------------------------------------------


def report(results: list[dict[str, Any]]) -> str:
    base = next(r for r in results if r["backend"] == "local-disk")
    header = (
        f"{'backend':<13}{'points':>8}{'ingest s':>10}{'pts/s':>9}{'p50 ms':>9}{'x local':>9}"
        f"{'R@10':>7}{'filt p50':>10}{'x local':>9}{'R@10':>7}{'RSS MB':>8}{'peak MB':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['backend']:<13}{r['points']:>8}{r['ingest_s']:>10.1f}"
            f"{r['points'] / r['ingest_s']:>9.0f}{r['plain_p50_ms']:>9.3f}"
            f"{r['plain_p50_ms'] / base['plain_p50_ms']:>9.4f}{r['plain_recall']:>7.3f}"
            f"{r['filtered_p50_ms']:>10.3f}{r['filtered_p50_ms'] / base['filtered_p50_ms']:>9.4f}"
            f"{r['filtered_recall']:>7.3f}{r['rss_mb']:>8.0f}{r['peak_rss_mb']:>9.0f}"
        )
    edge = next(r for r in results if r["backend"] == "edge")
    checks = [
        ("Edge p50 <= 1/20 local (unfiltered)", edge["plain_p50_ms"] * 20 <= base["plain_p50_ms"]),
        (
            "Edge p50 <= 1/20 local (10% filter)",
            edge["filtered_p50_ms"] * 20 <= base["filtered_p50_ms"],
        ),
        (
            "Edge recall@10 >= 0.98 (both)",
            min(edge["plain_recall"], edge["filtered_recall"]) >= 0.98,
        ),
        (
            "Edge ingest pts/s >= local-disk (incl. HNSW build)",
            edge["ingest_s"] <= base["ingest_s"],
        ),
    ]
    lines.append("")
    lines.append(
        f"medians over {edge['queries']} queries (Edge) / {base['queries']} (local); "
        f"x local = ratio to local-disk measured in this run"
    )
    lines.extend(f"  [{'met' if ok else 'MISSED'}] {name}" for name, ok in checks)
    return "\n".join(lines)


def summary_rows(results: list[dict[str, Any]]) -> list[Row]:
    """Edge against local mode on disk: both query medians, ingest time and recall."""
    edge = next(r for r in results if r["backend"] == "edge")
    base = next(r for r in results if r["backend"] == "local-disk")
    compared = "Qdrant Edge vs local mode on disk"
    n = f"@{edge['points'] // 1000}k"
    return [
        Row(compared, f"query p50 {n} (ms)", edge["plain_p50_ms"], base["plain_p50_ms"]),
        Row(
            compared,
            f"10%-filter query p50 {n} (ms)",
            edge["filtered_p50_ms"],
            base["filtered_p50_ms"],
        ),
        Row(compared, f"ingest {n} incl. HNSW (s)", edge["ingest_s"], base["ingest_s"]),
        Row(compared, "recall@10", edge["plain_recall"], base["plain_recall"], "higher"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10k points from 1,000 documents instead of 100k"
    )
    parser.add_argument("--points", type=int, default=None, help="points (default 100k)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR scifact directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding .npy cache")
    parser.add_argument("--local-queries", type=int, default=40, help="queries timed on local mode")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    add_summary_option(parser)
    args = parser.parse_args(argv)
    args.points = args.points or (10_000 if args.quick else 100_000)
    if args.worker:
        args.backend = args.worker
        print(json.dumps(run_worker(args)))
        return
    reason = missing_data(args.data)
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        write_summary(args.summary, [skipped("Qdrant Edge vs local mode on disk", reason)])
        return
    load_embeddings(args.data, args.cache, args.quick)  # embed once, before the timed workers
    backends = [b for b in args.backends.split(",") if b]
    if "local-disk" not in backends or "edge" not in backends:
        parser.error("--backends must include edge and local-disk (the baseline)")
    results = []
    for backend in backends:
        print(f"running {backend} at {args.points} points ...", file=sys.stderr, flush=True)
        results.append(_spawn(backend, args))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # survives an interrupt
    print(report(results))
    write_summary(args.summary, summary_rows(results))


if __name__ == "__main__":
    main()
