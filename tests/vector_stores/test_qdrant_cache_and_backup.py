"""Query cache through the store (hits, invalidation, errors) and backup → restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DIM, make_nodes
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client import QdrantClient

from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.reads import query_op

pytestmark = pytest.mark.integration


def _q(vector: list[float], k: int = 5, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=vector, similarity_top_k=k, **kw)


def test_repeated_query_is_served_from_cache(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    store.add(nodes)
    first = store.query(_q(nodes[0].embedding))
    cache = store.query_cache
    assert cache is not None
    held = cache.memory_stats.hits
    again = store.query(_q(nodes[0].embedding))
    assert cache.memory_stats.hits == held + 1
    assert again.ids == first.ids and again.similarities == first.similarities
    assert [n.get_content() for n in again.nodes] == [n.get_content() for n in first.nodes]
    # A different top_k, filter or mode is a different entry.
    other = store.query(_q(nodes[0].embedding, 3))
    assert other.ids == first.ids[:3]
    filtered = store.query(
        _q(
            nodes[0].embedding,
            filters=MetadataFilters(filters=[MetadataFilter(key="colour", value="blue")]),
        )
    )
    assert all(n.metadata["colour"] == "blue" for n in filtered.nodes)


def test_cached_results_share_nothing_with_the_caller(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    store.add(nodes)
    store.query(_q(nodes[0].embedding))
    first = store.query(_q(nodes[0].embedding))  # from the cache
    assert first.nodes and first.ids and first.similarities
    before = [(n.node_id, n.get_content(), dict(n.metadata)) for n in first.nodes]
    ids, sims = list(first.ids), list(first.similarities)
    for node in first.nodes:
        node.metadata["colour"] = "changed"
        node.set_content("changed")
    first.ids.reverse()
    first.similarities.clear()
    again = store.query(_q(nodes[0].embedding))
    assert again.nodes is not None
    assert [(n.node_id, n.get_content(), dict(n.metadata)) for n in again.nodes] == before
    assert again.ids == ids and again.similarities == sims


def test_write_through_another_instance_invalidates(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    reader = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    writer = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    writer.add(nodes)
    probe = nodes[4].embedding
    assert reader.query(_q(probe, 1)).ids == ["node-4"]
    writer.delete_nodes(["node-4"])
    assert reader.query(_q(probe, 1)).ids != ["node-4"]
    writer.add([nodes[4].model_copy(update={"text": "changed"})])
    result = reader.query(_q(probe, 1))
    assert result.ids == ["node-4"] and result.nodes[0].get_content() == "changed"
    writer.delete("doc-1")
    assert "node-4" not in reader.query(_q(probe, 30)).ids
    writer.clear()
    assert reader.query(_q(probe, 1)).ids == []


def test_errors_are_not_cached(qdrant_client: Any, nodes: list[TextNode], tmp_path: Path) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    store.add(nodes)
    with pytest.raises(ValueError):
        store.query(_q([1.0] * (DIM + 1)))
    with pytest.raises(ValueError):
        store.query(
            VectorStoreQuery(
                query_embedding=nodes[0].embedding, query_str="x", mode=VectorStoreQueryMode.HYBRID
            )
        )
    assert store.query_cache is not None
    # only the epoch token and the freshness check's point count: no result
    assert len(store.query_cache.cache) == 2


def test_result_computed_before_a_write_is_not_stored(
    qdrant_client: Any, nodes: list[TextNode], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client, cache_dir=tmp_path)
    store.add(nodes)
    op = query_op(store._state, _q(nodes[0].embedding, 1), {}, None)
    step = op.send(None)  # the query has read the epoch and asks Qdrant
    while step.method != "query_points":
        step = op.send(store._driver.run_step(step))
    response = store._driver.run_step(step)
    store.delete_nodes(["node-0"])  # a write lands while the query is in flight
    with pytest.raises(StopIteration) as done:
        op.send(response)
    assert done.value.value.ids == ["node-0"]  # the in-flight caller gets its answer...
    assert store.query(_q(nodes[0].embedding, 1)).ids != ["node-0"]  # ...nobody else does


def _all_points(client: Any, name: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    records, _ = client.scroll(
        collection_name=name, limit=10_000, with_vectors=True, with_payload=True
    )
    return {str(r.id): (r.vector, r.payload) for r in records}


def _same_vectors(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return set(a) == set(b) and all(_same_vectors(a[k], b[k]) for k in a)
    if hasattr(a, "indices"):
        return list(a.indices) == list(b.indices) and np.allclose(a.values, b.values)
    return np.array_equal(np.float32(a), np.float32(b))


@pytest.mark.parametrize("hybrid", [False, True])
def test_backup_restore_round_trip(tmp_path: Path, hybrid: bool) -> None:
    source = QdrantClient(":memory:")
    store = CachedQdrantVectorStore("src", client=source, enable_hybrid=hybrid)
    store.add(make_nodes(40, seed=3))
    report = store.backup(tmp_path / "backup")
    assert report["points"] == 40 and report["snapshot"] is None  # local mode: no snapshots
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["layout"]["sparse_name"] == ("text-sparse-new" if hybrid else None)

    target = QdrantClient(path=str(tmp_path / "disk"))
    restored = CachedQdrantVectorStore("dst", client=target, enable_hybrid=hybrid)
    assert restored.restore(tmp_path / "backup")["points"] == 40
    before, after = _all_points(source, "src"), _all_points(target, "dst")
    assert set(before) == set(after)
    for point_id, (vector, payload) in before.items():
        assert _same_vectors(vector, after[point_id][0])
        assert payload == after[point_id][1]
    probe = make_nodes(40, seed=3)[7].embedding
    assert restored.query(_q(probe, 3)).ids == store.query(_q(probe, 3)).ids
    with pytest.raises(ValueError, match="overwrite=False"):
        restored.restore(tmp_path / "backup", overwrite=False)
    assert restored.restore(tmp_path / "backup")["points"] == 40  # replaces, like Qdrant
    source.close()
    target.close()


def test_restore_refuses_foreign_directory(tmp_path: Path) -> None:
    store = CachedQdrantVectorStore("x", client=QdrantClient(":memory:"))
    with pytest.raises(ValueError, match="not a backup directory"):
        store.restore(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="unsupported backup format"):
        store.restore(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        store.backup(tmp_path / "b")


def _live_store(tmp_path: Path) -> tuple[QdrantClient, CachedQdrantVectorStore]:
    client = QdrantClient(":memory:")
    store = CachedQdrantVectorStore("live", client=client)
    store.add(make_nodes(30, seed=5))
    return client, store


def _assert_untouched(client: QdrantClient, store: CachedQdrantVectorStore) -> None:
    assert client.count(collection_name="live", exact=True).count == 30
    probe = make_nodes(30, seed=5)[4].embedding
    assert store.query(_q(probe, 1)).ids == [make_nodes(30, seed=5)[4].node_id]


@pytest.mark.parametrize("damage", ["truncate", "garble", "drop_line"])
def test_restore_of_a_damaged_export_leaves_the_collection_untouched(
    tmp_path: Path, damage: str
) -> None:
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    store.backup(backup)
    points = backup / "points.jsonl"
    lines = points.read_text(encoding="utf-8").splitlines(keepends=True)
    if damage == "truncate":  # cut mid-line, as a crash mid-write would
        points.write_text("".join(lines[:10]) + lines[10][: len(lines[10]) // 2])
    elif damage == "garble":
        lines[3] = '{"id": "x", "vectors": {"": {"dense_f32_b64": "!!"}}}\n'
        points.write_text("".join(lines))
    else:  # whole lines lost: every remaining line parses, the count does not match
        points.write_text("".join(lines[:-2]))
    with pytest.raises(ValueError, match=str(backup).replace("\\", "\\\\")):
        store.restore(backup)
    _assert_untouched(client, store)
    client.close()


def test_interrupted_backup_leaves_the_older_backup_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backup is built in a new folder and swapped in when complete: one that fails
    leaves the older backup exactly as it was, and nothing half-written beside it."""
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    store.backup(backup)
    before = {p.name: p.read_bytes() for p in backup.iterdir()}

    from ragdrop.vector_stores import operations

    def fail(record: Any) -> dict[str, Any]:
        raise OSError("disk full")

    monkeypatch.setattr(operations, "point_to_json", fail)
    with pytest.raises(OSError, match="disk full"):
        store.backup(backup)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")) == []
    assert store.restore(backup)["points"] == 30
    _assert_untouched(client, store)
    client.close()


def test_backup_never_writes_through_planted_links(tmp_path: Path) -> None:
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    backup.mkdir(mode=0o700)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    for name in ("points.jsonl", "manifest.json"):
        (backup / name).symlink_to(outside)
    store.backup(backup)
    assert outside.read_text() == "precious"
    assert not any(p.is_symlink() for p in backup.iterdir())
    assert store.restore(backup)["points"] == 30
    client.close()


def test_restore_refuses_a_points_file_that_fails_its_checksum(tmp_path: Path) -> None:
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    store.backup(backup)
    points = backup / "points.jsonl"
    points.write_bytes(points.read_bytes().replace(b'"', b"'", 1)[:-1] + b"\n")
    with pytest.raises(ValueError, match="checksum"):
        store.restore(backup)
    _assert_untouched(client, store)
    client.close()


def test_restore_refuses_repeated_points(tmp_path: Path) -> None:
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    store.backup(backup)
    points = backup / "points.jsonl"
    lines = points.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[0]  # 30 lines, but only 29 distinct points
    points.write_text("".join(lines))
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["points_sha256"] = None  # as in backups older than the checksum
    (backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="repeats point"):
        store.restore(backup)
    _assert_untouched(client, store)
    client.close()


def test_restore_checks_the_count_after_upserting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store = _live_store(tmp_path)
    backup = tmp_path / "backup"
    store.backup(backup)
    real_upsert = client.upsert

    def lossy_upsert(collection_name: str, points: list[Any], **kw: Any) -> Any:
        return real_upsert(collection_name=collection_name, points=points[:-1], **kw)

    monkeypatch.setattr(client, "upsert", lossy_upsert)
    with pytest.raises(ValueError, match="left 29 points"):
        store.restore(backup)
    client.close()
