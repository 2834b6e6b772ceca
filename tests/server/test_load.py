"""Bounded load on a real server: latency percentiles, no errors, no new metric series."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from server_helpers import series, serve_in_thread, wait_for_job

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.server.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 500
CONCURRENCY = 20
DISTINCT_REQUESTS = 10_000


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, server_corpus: list[dict[str, Any]]
) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("server-load")
    with RagPipeline(PipelineConfig(data_dir=data_dir, collection="load")) as pipeline:
        with serve_in_thread(create_app(pipeline)) as url:
            with httpx.Client(base_url=url, timeout=120) as client:
                job = client.post("/documents", json={"documents": server_corpus}).json()
                assert wait_for_job(client, job["job_id"])["status"] == "done"
            yield url


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def _run(base_url: str, requests: list[tuple[str, str, Any]]) -> list[tuple[int, float]]:
    """Send ``requests`` with at most CONCURRENCY in flight; (status, seconds) per request."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def one(method: str, path: str, body: Any) -> tuple[int, float]:
            async with semaphore:
                start = time.perf_counter()
                response = await client.request(method, path, json=body)
                return response.status_code, time.perf_counter() - start

        return await asyncio.gather(*(one(*r) for r in requests))


def test_500_questions_20_concurrent_without_errors_and_10k_requests_add_no_series(
    base_url: str,
) -> None:
    warm_up = [
        ("POST", "/query", {"question": "What is Qdrant?"}),
        ("POST", "/query", {"question": "q", "top_k": 10_000}),
        ("GET", f"/jobs/{uuid.uuid4().hex}", None),
        ("GET", "/jobs/not-a-job", None),
        ("GET", "/no/such/path", None),
        ("GET", "/health/ready", None),
        ("GET", "/health/live", None),
        ("GET", "/metrics", None),
    ]
    asyncio.run(_run(base_url, warm_up))
    series_before = series(httpx.get(base_url + "/metrics").text)

    topics = ["vector databases", "BM25 ranking", "context managers", "baking bread", "rerankers"]
    questions = [
        ("POST", "/query", {"question": f"Question {i} about {topics[i % len(topics)]}?"})
        for i in range(REQUESTS)
    ]
    started = time.perf_counter()
    results = asyncio.run(_run(base_url, questions))
    elapsed = time.perf_counter() - started
    latencies = [seconds for _, seconds in results]
    errors = [status for status, _ in results if status != 200]
    print(
        f"\nload: {REQUESTS} questions, {CONCURRENCY} concurrent, {elapsed:.1f} s, "
        f"{REQUESTS / elapsed:.1f} req/s, p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms, errors {len(errors)}"
    )
    assert errors == []

    # Distinct questions, job ids, document ids and URLs: none may become a label value.
    rest = DISTINCT_REQUESTS - REQUESTS
    distinct: list[tuple[str, str, Any]] = []
    for i in range(rest):
        kind = i % 4
        if kind == 0:
            distinct.append(
                ("POST", "/query", {"question": f"unique {i} {uuid.uuid4()}", "top_k": 999})
            )
        elif kind == 1:
            distinct.append(("GET", f"/jobs/{uuid.uuid4().hex}", None))
        elif kind == 2:
            distinct.append(("GET", f"/jobs/bad-{i}", None))
        else:
            distinct.append(("GET", f"/random/{uuid.uuid4()}", None))
    statuses = {status for status, _ in asyncio.run(_run(base_url, distinct))}
    assert statuses <= {404, 422}
    series_after = series(httpx.get(base_url + "/metrics").text)
    print(
        f"metric series: {len(series_before)} before, {len(series_after)} after "
        f"{DISTINCT_REQUESTS} requests; new: {sorted(series_after - series_before)}"
    )
    assert series_after == series_before
