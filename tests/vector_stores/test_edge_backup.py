"""Collections move between Edge and local mode through the store's portable backup; the
cache suite and the async client run on Edge too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_nodes
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
from qdrant_client import QdrantClient
from test_qdrant_cache_and_backup import (  # noqa: F401 - collected again, on Edge
    test_errors_are_not_cached,
    test_repeated_query_is_served_from_cache,
    test_result_computed_before_a_write_is_not_stored,
    test_write_through_another_instance_invalidates,
)

from ragdrop.qdrant_edge import AsyncEdgeQdrantClient, EdgeQdrantClient
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


@pytest.fixture()
def qdrant_client(tmp_path: Path) -> Iterator[EdgeQdrantClient]:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    yield client
    client.close()


def _open(kind: str, path: Path) -> Any:
    if kind == "edge":
        return EdgeQdrantClient(path=path)
    if kind == "local-disk":
        return QdrantClient(path=str(path))
    return QdrantClient(location=":memory:")


def _points(client: Any, name: str) -> dict[str, tuple[Any, Any]]:
    records, _ = client.scroll(name, limit=10_000, with_vectors=True, with_payload=True)
    return {str(r.id): (r.vector, r.payload) for r in records}


def _same_vector(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return set(a) == set(b) and all(_same_vector(a[k], b[k]) for k in a)
    if hasattr(a, "indices"):
        return list(a.indices) == list(b.indices) and np.allclose(a.values, b.values)
    return np.allclose(np.float32(a), np.float32(b), atol=1e-6)


def _query(store: CachedQdrantVectorStore, vector: list[float], mode: str) -> Any:
    query = VectorStoreQuery(
        query_embedding=vector,
        similarity_top_k=5,
        query_str="7 7 21",  # unique terms weighted apart: no ties among sparse hits
        mode=VectorStoreQueryMode(mode),
    )
    return store.query(query)


def _assert_same_results(got: Any, want: Any) -> None:
    """Same scores; same ids except among tied scores (sparse term weights tie often, and
    ties keep insertion order, which a restore does not reproduce)."""
    assert got.similarities == pytest.approx(want.similarities, rel=1e-5)
    for node_id, score in zip(want.ids, want.similarities, strict=True):
        if sum(abs(s - score) < 1e-6 for s in want.similarities) == 1:
            assert node_id in got.ids


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [("edge", "local-disk"), ("local-memory", "edge"), ("edge", "edge")],
)
def test_backup_moves_a_collection_between_backends(
    tmp_path: Path, source_kind: str, target_kind: str, hybrid: bool
) -> None:
    source = _open(source_kind, tmp_path / "source")
    target = _open(target_kind, tmp_path / "target")
    data = make_nodes(40, seed=3)
    store = CachedQdrantVectorStore("src", client=source, enable_hybrid=hybrid)
    store.add(data)
    report = store.backup(tmp_path / "backup")
    assert report["points"] == 40 and report["snapshot"] is None  # neither has snapshots

    restored = CachedQdrantVectorStore("dst", client=target, enable_hybrid=hybrid)
    assert restored.restore(tmp_path / "backup")["points"] == 40
    before, after = _points(source, "src"), _points(target, "dst")
    assert before.keys() == after.keys()
    for point_id, (vector, payload) in before.items():
        assert _same_vector(vector, after[point_id][0]), point_id
        assert payload == after[point_id][1], point_id
    modes = ["default", "sparse", "hybrid"] if hybrid else ["default"]
    for probe in (data[7].embedding, data[21].embedding):
        assert probe is not None
        for mode in modes:
            _assert_same_results(_query(restored, probe, mode), _query(store, probe, mode))
    source.close()
    target.close()


async def test_store_with_the_async_edge_client(tmp_path: Path) -> None:
    client = EdgeQdrantClient(path=tmp_path / "edge")
    store = CachedQdrantVectorStore("a", client=client, aclient=AsyncEdgeQdrantClient(client))
    data = make_nodes(30)
    assert await store.async_add(data) == [n.node_id for n in data]
    query = VectorStoreQuery(query_embedding=data[4].embedding, similarity_top_k=5)
    assert (await store.aquery(query)).ids == store.query(query).ids
    await store.adelete("doc-1")
    left = {n.node_id for n in await store.aget_nodes()}
    assert left == {n.node_id for n in data if n.ref_doc_id != "doc-1"}
    assert (await store.ahealth())["points"] == len(left)
    client.close()


def test_cache_is_shared_across_reopenings_of_the_same_edge_path(tmp_path: Path) -> None:
    data = make_nodes(20)
    query = VectorStoreQuery(query_embedding=data[3].embedding, similarity_top_k=4)
    client = EdgeQdrantClient(path=tmp_path / "edge")
    store = CachedQdrantVectorStore("c", client=client, cache_dir=tmp_path / "cache")
    store.add(data)
    first = store.query(query)
    store.close()
    client.close()

    client = EdgeQdrantClient(path=tmp_path / "edge")  # e.g. the next CLI run
    again = CachedQdrantVectorStore("c", client=client, cache_dir=tmp_path / "cache")
    cache = again.query_cache
    assert cache is not None
    before = cache.cache.stats
    hits, misses = before.hits, before.misses
    assert again.query(query).ids == first.ids
    # same path, same scope: the result is served from the cache, nothing missed
    assert cache.cache.stats.hits > hits and cache.cache.stats.misses == misses
    again.delete_nodes([first.ids[0]])  # a write bumps the path's epoch
    assert first.ids[0] not in (again.query(query).ids or [])
    again.close()
    client.close()
