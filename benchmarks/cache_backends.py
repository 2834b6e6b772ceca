"""Cached queries on Redis against diskcache: the same store, the same questions, one run.

    .venv/bin/python -m benchmarks.cache_backends [--quick] [--points N] [--queries N]
        [--summary PATH]

Starts its own ``redis-server`` on a free 127.0.0.1 port (no persistence; skipped with the
reason when the binary is missing), fills Qdrant local mode (``:memory:``) with random unit
vectors carrying ~1 KB payloads, and times, interleaved per question:

* ``uncached``: `CachedQdrantVectorStore` without a cache (the baseline of both);
* ``diskcache hit`` / ``redis hit``: the same store with ``cache_dir`` / ``cache_url``, the
  question asked once before (a hit reads the write epoch from the backend and the decoded
  result from the store's in-process layer);
* the backends alone: reading a 4 KB entry (``get_bytes``, what a process that never
  asked the question pays on top of the epoch) and reading the write epoch
  (``get_token``: diskcache's is served from memory while the stamp file is unchanged,
  Redis's is a round trip).

Prints p50/p90 per row and writes the ratios for ``benchmarks.run_all`` (issue 18: a Redis
hit < 1 ms on 127.0.0.1, against diskcache in the same run).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import redis
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient

from benchmarks._summary import Row, add_summary_option, skipped, write_summary
from ragdrop.vector_stores import CachedQdrantVectorStore

COMPARED = "cached query vs uncached"
DIM = 384


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A ``redis-server`` on a free 127.0.0.1 port; yields its URL, stops it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start on port {port}") from None
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


def fill(client: QdrantClient, points: int, seed: int = 0) -> list[list[float]]:
    """``points`` nodes with ~1 KB of text; returns query vectors near some of them."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(points, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = CachedQdrantVectorStore("bench", client=client)
    text = "cached results must never be stale after a write " * 20
    nodes = [
        TextNode(
            id_=str(uuid.UUID(int=i + 1)),
            text=f"{text}{i}",
            embedding=vectors[i].tolist(),
            metadata={"doc": f"d{i}", "n": i},
        )
        for i in range(points)
    ]
    for start in range(0, points, 1000):
        store.add(nodes[start : start + 1000])
    noise = rng.normal(scale=0.05, size=vectors.shape).astype(np.float32)
    return [(vectors[i] + noise[i]).tolist() for i in range(points)]


def timed_ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 points, 100 queries")
    parser.add_argument("--points", type=int, default=None, help="points (default 10,000)")
    parser.add_argument("--queries", type=int, default=None, help="questions (default 300)")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("skipped: redis-server is not installed (make install puts it there)")
        write_summary(args.summary, [skipped(COMPARED, "redis-server is not installed")])
        return
    points = args.points or (2_000 if args.quick else 10_000)
    n_queries = args.queries or (100 if args.quick else 300)
    client = QdrantClient(":memory:")
    queries = fill(client, points)[:n_queries]
    with tempfile.TemporaryDirectory(prefix="ragdrop-cache-bench-") as tmp:
        with redis_server(Path(tmp)) as url:
            stores = {
                "uncached": CachedQdrantVectorStore("bench", client=client),
                "diskcache hit": CachedQdrantVectorStore(
                    "bench", client=client, cache_dir=Path(tmp) / "disk"
                ),
                "redis hit": CachedQdrantVectorStore("bench", client=client, cache_url=url),
            }
            backends = {}
            for name in ("diskcache", "redis"):
                cache = stores[f"{name} hit"].query_cache
                if cache is None:
                    raise SystemExit(f"{name}: the store has no query cache")
                backends[name] = cache.cache
                cache.cache.set_bytes("bench-entry", b"x" * 4096, expire=600)
            requests = [VectorStoreQuery(query_embedding=q, similarity_top_k=10) for q in queries]
            for store in stores.values():  # first asks: fill the caches, warm everything
                for request in requests:
                    store.query(request)
            reads: dict[str, Callable[[], object]] = {}
            for name, backend in backends.items():
                reads[f"{name} read 4 KB entry"] = lambda b=backend: b.get_bytes("bench-entry")
                reads[f"{name} read epoch"] = lambda b=backend: b.get_token("bench-epoch")
            samples: dict[str, list[float]] = {name: [] for name in [*stores, *reads]}
            for request in requests:
                for name, store in stores.items():
                    samples[name].append(timed_ms(lambda s=store, r=request: s.query(r)))
                for name, read in reads.items():
                    samples[name].append(timed_ms(read))
    p50 = {name: statistics.median(v) for name, v in samples.items()}
    p90 = {name: float(np.percentile(v, 90)) for name, v in samples.items()}
    print(f"{points} points, {n_queries} questions, Qdrant local mode (:memory:)")
    print(f"{'path':<36} {'p50 ms':>8} {'p90 ms':>8} {'vs uncached':>12}")
    for name in samples:
        print(
            f"{name:<36} {p50[name]:>8.3f} {p90[name]:>8.3f} {p50['uncached'] / p50[name]:>11.1f}x"
        )
    rows = [
        Row(COMPARED, f"{name}: p50 ms", p50[name], p50["uncached"])
        for name in ("diskcache hit", "redis hit")
    ]
    rows += [
        Row(f"redis vs diskcache, {what}", "p50 ms", p50[f"redis {what}"], p50[f"diskcache {what}"])
        for what in ("hit", "read 4 KB entry", "read epoch")
    ]
    write_summary(args.summary, rows)


if __name__ == "__main__":
    main()
