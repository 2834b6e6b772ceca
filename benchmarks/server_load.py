"""HTTP serving cost: `ragdrop serve` under concurrent load vs calling the pipeline directly.

Run: .venv/bin/python -m benchmarks.server_load [--quick] [--summary PATH]

Both sides answer the same distinct questions over the same index (CPython's pydoc topics)
with the same concurrency and no caches; the ratios show what HTTP, validation, auth,
metrics and the readers-writer lock add. Medians of ``--repeats`` runs, sides alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._summary import Row, add_summary_option, write_summary

# A fresh secret per run: the server refuses placeholder keys (fail closed).
API_KEY = secrets.token_urlsafe(24)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return q[49], q[94]


def _direct(pipeline: object, questions: list[str], concurrency: int) -> tuple[list[float], float]:
    def one(question: str) -> float:
        start = time.perf_counter()
        pipeline.query(question)  # type: ignore[attr-defined]
        return time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, questions))
    return latencies, time.perf_counter() - started


async def _http(url: str, questions: list[str], concurrency: int) -> tuple[list[float], float]:
    import httpx

    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(question: str) -> float:
            async with semaphore:
                start = time.perf_counter()
                response = await client.post(
                    "/query",
                    json={"question": question},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                response.raise_for_status()
                return time.perf_counter() - start

        started = time.perf_counter()
        latencies = await asyncio.gather(*(one(q) for q in questions))
    return list(latencies), time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="40 documents, 40 requests, 2 runs")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    add_summary_option(parser)
    args = parser.parse_args(argv)
    n_docs, n_requests, repeats = (40, 40, 2) if args.quick else (None, args.requests, args.repeats)

    import uvicorn

    from ragdrop.pipeline import PipelineConfig, RagPipeline, load_pydoc_topics
    from ragdrop.server.app import create_app

    documents = load_pydoc_topics()[:n_docs]
    data_dir = Path(tempfile.mkdtemp(prefix="ragdrop-bench-serve-"))
    # No caches: answers embed the sentences of their sources, and a cache warmed by one
    # side would make the other look faster.
    pipeline = RagPipeline(PipelineConfig(data_dir=data_dir, collection="bench", cache=False))
    pipeline.ingest(documents)
    pipeline.query("warm up the models")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(pipeline, api_key=API_KEY), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    # One untimed round per side: first concurrent use builds per-thread state (tokenizers,
    # torch thread pools) that would otherwise be charged to whichever side runs first.
    warm = [f"warm-up {i}" for i in range(args.concurrency)]
    _direct(pipeline, warm, args.concurrency)
    asyncio.run(_http(f"http://127.0.0.1:{port}", [w + " h" for w in warm], args.concurrency))

    rows: dict[str, list[tuple[float, float, float]]] = {"direct (threads)": [], "HTTP": []}
    for repeat in range(repeats):
        # Distinct questions per run and side, so no cache answers them.
        base = [
            f"{topic} question {repeat}-{i}"
            for i, topic in enumerate(d.metadata["topic"] for d in documents)
        ]
        questions = [base[i % len(base)] + f" #{i}" for i in range(n_requests)]
        # Alternate which side goes first: the machine's load drifts between runs.
        sides = ["direct (threads)", "HTTP"] if repeat % 2 == 0 else ["HTTP", "direct (threads)"]
        for side in sides:
            if side == "HTTP":
                url = f"http://127.0.0.1:{port}"
                lat, wall = asyncio.run(_http(url, questions, args.concurrency))
            else:
                lat, wall = _direct(pipeline, [q + " d" for q in questions], args.concurrency)
            rows[side].append((*_percentiles(lat), n_requests / wall))
    server.should_exit = True
    thread.join()
    pipeline.close()

    print(
        f"\n{n_requests} distinct questions, {args.concurrency} concurrent, {len(documents)} docs, "
        f"median of {repeats} run(s)"
    )
    print(
        f"{'mode':<18}{'p50 ms':>10}{'p95 ms':>10}{'req/s':>10}{'p50 ratio':>12}{'req/s ratio':>13}"
    )
    base_p50 = statistics.median(r[0] for r in rows["direct (threads)"])
    base_rps = statistics.median(r[2] for r in rows["direct (threads)"])
    for mode, runs in rows.items():
        p50 = statistics.median(r[0] for r in runs)
        p95 = statistics.median(r[1] for r in runs)
        rps = statistics.median(r[2] for r in runs)
        print(
            f"{mode:<18}{p50 * 1000:>10.0f}{p95 * 1000:>10.0f}{rps:>10.1f}"
            f"{p50 / base_p50:>12.2f}{rps / base_rps:>13.2f}"
        )
    compared = f"ragdrop serve (HTTP) vs direct calls, {args.concurrency} concurrent"
    http = rows["HTTP"]
    write_summary(
        args.summary,
        [
            Row(
                compared,
                "p50 latency (ms)",
                statistics.median(r[0] for r in http) * 1000,
                base_p50 * 1000,
            ),
            Row(
                compared,
                "throughput (req/s)",
                statistics.median(r[2] for r in http),
                base_rps,
                "higher",
            ),
        ],
    )


if __name__ == "__main__":
    main()
