"""Edge indexes itself (issue 16, item 7): a background build after a write burst, on real
Edge folders, through the client and through `CachedQdrantVectorStore.add`.

Collections use a small ``indexing_threshold`` (KB) so a few thousand 32-d points are past it,
as 100k MiniLM vectors are past the default one (see ``benchmarks/edge_autoindex.py``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client.http import models as qm

from ragdrop.qdrant_edge import EdgeQdrantClient
from ragdrop.qdrant_edge.convert_config import (
    DEFAULT_SEARCH_EF,
    request_with_search_ef,
    search_ef,
    with_search_ef,
)
from ragdrop.qdrant_edge.optimizer import BackgroundOptimizer
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration

DIM = 32
N = 3000
BATCH = 200
WAIT_S = 60  # bounded: a 3k x 32 build takes well under a second


def _vectors(n: int = N, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _create(client: EdgeQdrantClient, name: str = "c") -> None:
    client.create_collection(
        name,
        vectors_config=qm.VectorParams(size=DIM, distance=qm.Distance.COSINE),
        optimizers_config=qm.OptimizersConfigDiff(indexing_threshold=10),
    )


def _upsert(client: EdgeQdrantClient, vectors: np.ndarray, start: int, stop: int) -> None:
    points = [qm.PointStruct(id=i, vector=vectors[i].tolist()) for i in range(start, stop)]
    client.upsert("c", points)


def _exact(vectors: np.ndarray, count: int, query: np.ndarray, k: int = 10) -> list[int]:
    return [int(i) for i in np.argsort(-(vectors[:count] @ query), kind="stable")[:k]]


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[EdgeQdrantClient]:
    edge = EdgeQdrantClient(path=tmp_path / "edge")
    yield edge
    edge.close()


def test_a_burst_of_upserts_is_indexed_once_it_goes_quiet(client: EdgeQdrantClient) -> None:
    _create(client)
    vectors = _vectors()
    for start in range(0, N, BATCH):
        _upsert(client, vectors, start, start + BATCH)
    info = client.get_collection("c")
    assert info.points_count == N and (info.indexed_vectors_count or 0) < N  # writes did not build
    assert info.status == qm.CollectionStatus.GREY  # a build is due
    assert client.backend.optimizer.wait_idle(timeout=WAIT_S)
    info = client.get_collection("c")
    assert info.indexed_vectors_count == info.points_count == N
    assert info.status == qm.CollectionStatus.GREEN
    assert info.optimizer_status == qm.OptimizersStatusOneOf.OK
    assert client.backend.optimizer.builds >= 1 and client.backend.optimizer.errors == 0


def test_store_add_in_batches_is_indexed_after_the_burst(client: EdgeQdrantClient) -> None:
    _create(client)
    store = CachedQdrantVectorStore("c", client=client)
    vectors = _vectors()
    for start in range(0, N, 500):
        nodes = [
            TextNode(id_=f"00000000-0000-0000-0000-{i:012d}", text=f"t{i}", embedding=v.tolist())
            for i, v in enumerate(vectors[start : start + 500], start)
        ]
        store.add(nodes)
    assert client.backend.optimizer.wait_idle(timeout=WAIT_S)
    info = client.get_collection("c")
    assert info.indexed_vectors_count == info.points_count == N
    hit = store.query(VectorStoreQuery(query_embedding=vectors[42].tolist(), similarity_top_k=1))
    assert hit.ids == ["00000000-0000-0000-0000-000000000042"]


def test_writes_and_searches_during_builds_succeed_and_stay_exact(
    client: EdgeQdrantClient,
) -> None:
    _create(client)
    optimizer = client.backend.optimizer
    optimizer.max_unindexed = 400  # builds in the middle of the burst too
    optimizer.idle_s = 0.2  # checked this often; the writer never pauses that long
    vectors = _vectors()
    failures: list[BaseException] = []
    builds_while_writing: list[int] = []

    def write() -> None:
        try:
            for start in range(0, N, 100):
                _upsert(client, vectors, start, start + 100)
                threading.Event().wait(0.02)
            builds_while_writing.append(optimizer.builds)
        except BaseException as exc:  # reported to the test thread below
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    recalls = []
    rng = np.random.default_rng(1)
    while writer.is_alive():
        # the points a search must see: at least those written before it started
        written = client.count("c").count
        query = vectors[int(rng.integers(0, max(written, 1)))]
        found = [p.id for p in client.query_points("c", query=query, limit=10).points]
        if written >= 10 and len(found) == 10:
            before = set(_exact(vectors, written, query))
            after = set(_exact(vectors, client.count("c").count, query))
            recalls.append(len(set(found) & (before | after)) / 10)
    writer.join()
    assert not failures
    assert builds_while_writing[0] >= 1  # builds ran while the writer was writing
    assert client.count("c").count == N
    assert recalls and min(recalls) >= 0.9 and np.mean(recalls) >= 0.99
    assert optimizer.wait_idle(timeout=WAIT_S)
    for i in range(0, N, 150):  # indexed now: still the exact neighbours
        found = [p.id for p in client.query_points("c", query=vectors[i], limit=10).points]
        assert found[0] == i
        assert len(set(found) & set(_exact(vectors, N, vectors[i]))) >= 9
    assert optimizer.errors == 0


def test_close_during_a_build_leaves_a_folder_that_reopens_with_every_point(
    tmp_path: Path,
) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    client.backend.optimizer.idle_s = 0.0  # the build starts right after the last write
    _create(client)
    vectors = _vectors()
    for start in range(0, N, 500):
        _upsert(client, vectors, start, start + 500)
    client.close()
    optimizer = client.backend.optimizer
    assert optimizer.idle and optimizer.errors == 0
    assert optimizer.state("c") == "idle"
    reopened = EdgeQdrantClient(path=tmp_path / "edge")
    try:
        assert reopened.count("c").count == N
        assert reopened.query_points("c", query=vectors[7], limit=1).points[0].id == 7
        assert reopened.backend.optimizer.idle  # nothing written: nothing to build
    finally:
        reopened.close()


def test_auto_optimize_false_never_builds(tmp_path: Path) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge", auto_optimize=False)
    try:
        _create(client)
        vectors = _vectors()
        for start in range(0, N, 500):
            _upsert(client, vectors, start, start + 500)
        threading.Event().wait(2 * client.backend.optimizer.idle_s + 0.5)
        info = client.get_collection("c")
        assert info.points_count == N and info.indexed_vectors_count == 0
        assert client.backend.optimizer.builds == 0
        assert client.optimize("c") is True  # still there when asked
        assert client.get_collection("c").indexed_vectors_count == N
    finally:
        client.close()


def test_a_failed_background_build_is_counted_logged_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[str] = []

    def build(name: str) -> bool:
        attempts.append(name)
        if len(attempts) == 1:
            raise OSError("disk full")
        return True

    optimizer = BackgroundOptimizer(build, lambda name: (0, 0), idle_s=0.01)
    try:
        with caplog.at_level(logging.WARNING, logger="ragdrop.qdrant_edge.optimizer"):
            optimizer.notify("docs")
            assert optimizer.wait_idle(timeout=WAIT_S)
        assert optimizer.errors == 1 and optimizer.error("docs") == "OSError: disk full"
        assert "background index build of 'docs' failed" in caplog.text
        optimizer.notify("docs")  # the next write retries; success clears the error
        assert optimizer.wait_idle(timeout=WAIT_S)
        assert optimizer.error("docs") is None and optimizer.builds == 1
    finally:
        optimizer.stop()


def test_an_engine_error_in_a_background_build_is_reported_not_raised(
    client: EdgeQdrantClient,
) -> None:
    _create(client)
    optimizer = client.backend.optimizer
    client.backend.collection("c").shard.close()  # the engine now rejects every call
    optimizer.notify("c")
    assert optimizer.wait_idle(timeout=WAIT_S)
    assert optimizer.errors == 1 and optimizer.error("c")
    collection = client.backend.collections.pop("c")  # the fixture's close must not retry it
    del collection


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_bad_settings_are_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match="max_unindexed"):
        BackgroundOptimizer(lambda name: True, lambda name: (0, 0), max_unindexed=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), True, "1"])
def test_a_bad_growth_is_refused_by_name(value: object) -> None:
    with pytest.raises(ValueError, match="growth"):
        BackgroundOptimizer(lambda name: True, lambda name: (0, 0), growth=value)  # type: ignore[arg-type]


def _burst_builds(growth: float) -> list[tuple[int, int]]:
    """(indexed, unindexed) at each build while a writer adds 20 points every 5 ms to an index
    kept in two counters, then the burst ends."""
    counts = {"indexed": 0, "unindexed": 0}
    lock = threading.Lock()
    seen: list[tuple[int, int]] = []

    def build(name: str) -> bool:
        with lock:
            seen.append((counts["indexed"], counts["unindexed"]))
            counts["indexed"] += counts["unindexed"]
            counts["unindexed"] = 0
        return True

    def index_counts(name: str) -> tuple[int, int]:
        with lock:
            return counts["indexed"], counts["unindexed"]

    optimizer = BackgroundOptimizer(build, index_counts, idle_s=0.03, max_unindexed=100,
                                    growth=growth)  # fmt: skip
    try:
        for _ in range(150):
            with lock:
                counts["unindexed"] += 20
            optimizer.notify("c")
            threading.Event().wait(0.005)
        assert optimizer.wait_idle(timeout=WAIT_S)
    finally:
        optimizer.stop()
    assert sum(counts.values()) == 3000 and counts["unindexed"] == 0
    return seen


def test_mid_burst_builds_wait_for_the_unindexed_to_match_the_indexed() -> None:
    doubling = _burst_builds(growth=1.0)
    *mid_burst, _ = doubling  # the last build is the one after the burst
    assert mid_burst, "a 3,000-point burst past max_unindexed=100 builds in the middle"
    for indexed, unindexed in mid_burst:
        assert unindexed >= max(100, indexed)
    fixed = _burst_builds(growth=0.0)  # max_unindexed alone: a build every ~100 points
    assert len(fixed) > len(doubling)


def test_exit_during_a_pending_build_prints_no_traceback(tmp_path: Path) -> None:
    script = f"""
import numpy as np
from qdrant_client.http import models as qm
from ragdrop.qdrant_edge import EdgeQdrantClient
from ragdrop.qdrant_edge.convert_config import (
    DEFAULT_SEARCH_EF,
    request_with_search_ef,
    search_ef,
    with_search_ef,
)
client = EdgeQdrantClient(path={str(tmp_path / "edge")!r})
client.create_collection("c", vectors_config=qm.VectorParams(size={DIM}, distance="Cosine"),
                         optimizers_config=qm.OptimizersConfigDiff(indexing_threshold=10))
vectors = np.random.default_rng(0).normal(size=({N}, {DIM}))
client.upsert("c", [qm.PointStruct(id=i, vector=v.tolist()) for i, v in enumerate(vectors)])
client.backend.optimizer.idle_s = 0.0
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    reopened = EdgeQdrantClient(path=tmp_path / "edge")
    try:
        assert reopened.count("c").count == N
    finally:
        reopened.close()


def test_a_search_without_hnsw_ef_gets_the_edge_default_and_callers_models_stay() -> None:
    config = qm.CreateCollection(vectors=qm.VectorParams(size=4, distance=qm.Distance.COSINE))
    assert search_ef(config) == DEFAULT_SEARCH_EF
    params, prefetch = with_search_ef(config, None)
    assert params == qm.SearchParams(hnsw_ef=DEFAULT_SEARCH_EF) and prefetch is None
    mine = qm.SearchParams(indexed_only=True)
    nested = qm.Prefetch(query=[1.0, 0, 0, 0], limit=5)
    outer = qm.Prefetch(prefetch=nested, params=qm.SearchParams(hnsw_ef=32), limit=20)
    params, prefetch = with_search_ef(config, mine, [outer])
    assert params == qm.SearchParams(indexed_only=True, hnsw_ef=DEFAULT_SEARCH_EF)
    assert isinstance(prefetch, list) and prefetch[0].params == qm.SearchParams(hnsw_ef=32)
    inner = prefetch[0].prefetch
    assert isinstance(inner, qm.Prefetch) and inner.params is not None
    assert inner.params.hnsw_ef == DEFAULT_SEARCH_EF
    assert mine.hnsw_ef is None and nested.params is None  # the caller's models are untouched
    exact = qm.SearchParams(exact=True)
    assert with_search_ef(config, exact)[0] is exact  # exact search needs no ef
    bigger = qm.CreateCollection(
        vectors=config.vectors, hnsw_config=qm.HnswConfigDiff(ef_construct=1000)
    )
    assert search_ef(bigger) == 1000  # never below the server's default (ef_construct)
    request = request_with_search_ef(config, qm.QueryRequest(query=[1.0, 0, 0, 0]))
    assert request.params == qm.SearchParams(hnsw_ef=DEFAULT_SEARCH_EF)


def test_queries_with_prefetch_and_batches_run_on_edge_with_the_default_ef(
    client: EdgeQdrantClient,
) -> None:
    _create(client)
    vectors = _vectors()
    _upsert(client, vectors, 0, N)
    assert client.backend.optimizer.wait_idle(timeout=WAIT_S)
    prefetch = qm.Prefetch(query=vectors[5].tolist(), limit=20)
    hits = client.query_points("c", query=vectors[5].tolist(), prefetch=prefetch, limit=3)
    assert hits.points[0].id == 5
    batch = client.query_batch_points(
        "c", [qm.QueryRequest(query=vectors[i].tolist(), limit=1) for i in (1, 2)]
    )
    assert [r.points[0].id for r in batch] == [1, 2]
