"""Restore and settings rebuild on a Qdrant deployment: built in a new collection, checked,
switched in with a collection alias (issue 14). Run on qdrant-client's local mode (in memory and
on disk), which implements aliases as a server does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient, models

from ragdrop.pipeline.collection_switch import (
    PENDING,
    pending_switch,
    read_names,
    recover_collection,
    restore_collection,
    staged_collection,
)
from ragdrop.pipeline.components import build_components
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.manifest import IngestManifest
from ragdrop.pipeline.rebuild import RebuildError, StagedRebuild
from ragdrop.pipeline.restore import MANIFEST_COPY, staged_manifest
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration

DIM = 8
LIVE = "docs"


def _nodes(prefix: str, n_docs: int, dim: int = DIM, chunks: int = 2) -> list[TextNode]:
    rng = np.random.default_rng(len(prefix) * 100 + n_docs)
    nodes = []
    for d in range(n_docs):
        for c in range(chunks):
            node = TextNode(
                text=f"{prefix} document {d} chunk {c}",
                id_=f"{prefix}-{d}-{c}",
                embedding=rng.normal(size=dim).tolist(),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"{prefix}-{d}")
            nodes.append(node)
    return nodes


def _manifest(prefix: str, n_docs: int) -> dict[str, object]:
    docs = {f"{prefix}-{d}": f"hash-{prefix}-{d}" for d in range(n_docs)}
    return {"version": 1, "fingerprint": {}, "documents": docs}


@pytest.fixture(params=["memory", "disk"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantClient]:
    location = (
        {"location": ":memory:"} if request.param == "memory" else {"path": str(tmp_path / "q")}
    )
    qdrant = QdrantClient(**location)
    yield qdrant
    qdrant.close()


@pytest.fixture()
def config(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(data_dir=tmp_path / "data", collection=LIVE)


def _live(client: QdrantClient, config: PipelineConfig) -> CachedQdrantVectorStore:
    """A plain live collection (as before aliases) with the "old" documents and its manifest."""
    store = CachedQdrantVectorStore(LIVE, client=client)
    store.add(_nodes("old", 3))
    config.data_dir.mkdir(mode=0o700)
    config.manifest_path.write_text(json.dumps(_manifest("old", 3)))
    return store


def _backup(client: QdrantClient, tmp_path: Path, prefix: str = "new", n_docs: int = 4) -> Path:
    """A backup of another collection holding ``prefix`` documents, with its manifest."""
    source = CachedQdrantVectorStore(f"source-{prefix}", client=client)
    source.add(_nodes(prefix, n_docs))
    dest = tmp_path / f"backup-{prefix}"
    source.backup(dest, snapshot=False)
    (dest / MANIFEST_COPY).write_text(json.dumps(_manifest(prefix, n_docs)))
    source.clear()
    return dest


def _answers(client: QdrantClient) -> set[str]:
    """The documents the live name answers from (a scroll and a query through the name)."""
    store = CachedQdrantVectorStore(LIVE, client=client)
    scrolled = {n.ref_doc_id or "" for n in store.iter_nodes()}
    hits = store.query(VectorStoreQuery(query_embedding=[0.1] * DIM, similarity_top_k=3))
    assert {n.ref_doc_id for n in hits.nodes or []} <= scrolled
    return scrolled


def _staged(client: QdrantClient) -> tuple[str, ...]:
    return read_names(client, LIVE).staged


def test_restore_switches_an_alias_and_drops_the_old_collection(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path
) -> None:
    _live(client, config)
    result = restore_collection(config, client, _backup(client, tmp_path))
    names = read_names(client, LIVE)
    assert names.is_alias and names.target == result["collection"]
    assert _staged(client) == (result["collection"],)  # the plain collection is gone
    assert _answers(client) == {f"new-{d}" for d in range(4)}
    assert json.loads(config.manifest_path.read_text()) == _manifest("new", 4)
    assert pending_switch(client, config) is None
    # A second restore switches alias to alias and drops the collection it replaced.
    again = restore_collection(config, client, _backup(client, tmp_path, "newer", 2))
    assert _staged(client) == (again["collection"],)
    assert _answers(client) == {"newer-0", "newer-1"}
    # Writes through the alias land in the new collection.
    CachedQdrantVectorStore(LIVE, client=client).add(_nodes("extra", 1))
    assert client.count(str(again["collection"]), exact=True).count == 6


def _truncate(backup: Path) -> None:
    lines = (backup / "points.jsonl").read_text().splitlines(keepends=True)
    (backup / "points.jsonl").write_text("".join(lines[:-2]))


def _wrong_dimension(backup: Path) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["layout"]["size"] = DIM + 1
    (backup / "manifest.json").write_text(json.dumps(manifest))


def _orphan_documents(backup: Path) -> None:
    (backup / MANIFEST_COPY).write_text(json.dumps(_manifest("new", 9)))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "does not match the checksum"),
        (_wrong_dimension, "dense vector has 8 values, expected 9"),
        (_orphan_documents, "documents with no points"),
    ],
)
def test_a_rejected_restore_leaves_the_live_collection_answering(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path, damage: object, message: str
) -> None:
    _live(client, config)
    backup = _backup(client, tmp_path)
    assert callable(damage)
    damage(backup)
    with pytest.raises(ValueError, match=message):
        restore_collection(config, client, backup)
    assert _answers(client) == {"old-0", "old-1", "old-2"}
    assert _staged(client) == ()
    assert json.loads(config.manifest_path.read_text()) == _manifest("old", 3)
    assert not list(config.data_dir.glob("*.restore-*"))


def test_a_rejected_restore_of_an_aliased_collection_keeps_its_alias(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path
) -> None:
    _live(client, config)
    first = restore_collection(config, client, _backup(client, tmp_path))
    broken = _backup(client, tmp_path, "newer", 2)
    _truncate(broken)
    with pytest.raises(ValueError):
        restore_collection(config, client, broken)
    assert read_names(client, LIVE).target == first["collection"]
    assert _answers(client) == {f"new-{d}" for d in range(4)}


def test_a_first_switch_cut_short_is_finished_and_leftovers_dropped(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path
) -> None:
    """A kill after the pending alias was created and the plain collection dropped, before
    the live alias: the next start finishes the switch; a half-built collection is dropped."""
    _live(client, config)
    backup = _backup(client, tmp_path)
    new, half = staged_collection(LIVE, "a" * 12), staged_collection(LIVE, "b" * 12)
    CachedQdrantVectorStore(new, client=client).restore(backup, overwrite=False)
    CachedQdrantVectorStore(half, client=client).add(_nodes("half", 1))
    staged_manifest(config, "a" * 12).write_bytes((backup / MANIFEST_COPY).read_bytes())
    create = models.CreateAlias(collection_name=new, alias_name=LIVE + PENDING)
    client.update_collection_aliases(
        change_aliases_operations=[models.CreateAliasOperation(create_alias=create)]
    )
    client.delete_collection(LIVE)
    assert "interrupted" in (pending_switch(client, config) or "")
    done = recover_collection(client, config)
    assert len(done) == 3, done
    assert read_names(client, LIVE).target == new
    assert _staged(client) == (new,)
    assert _answers(client) == {f"new-{d}" for d in range(4)}
    assert json.loads(config.manifest_path.read_text()) == _manifest("new", 4)
    assert pending_switch(client, config) is None
    assert recover_collection(client, config) == []


def test_a_switch_before_its_manifest_is_reported_and_finished(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path
) -> None:
    """A kill between the alias switch and the data dir's manifest: not ready until the next
    start puts the staged manifest in place."""
    _live(client, config)
    backup = _backup(client, tmp_path)
    new = staged_collection(LIVE, "c" * 12)
    CachedQdrantVectorStore(new, client=client).restore(backup, overwrite=False)
    staged_manifest(config, "c" * 12).write_bytes((backup / MANIFEST_COPY).read_bytes())
    client.delete_collection(LIVE)
    create = models.CreateAlias(collection_name=new, alias_name=LIVE)
    client.update_collection_aliases(
        change_aliases_operations=[models.CreateAliasOperation(create_alias=create)]
    )
    assert "manifest was not switched" in (pending_switch(client, config) or "")
    recover_collection(client, config)
    assert json.loads(config.manifest_path.read_text()) == _manifest("new", 4)
    assert pending_switch(client, config) is None


def _rebuild_config(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(
        data_dir=tmp_path / "rebuild", collection=LIVE, qdrant_engine="local", rerank=False
    )


def test_a_settings_rebuild_builds_a_new_collection_and_switches_its_alias(
    tmp_path: Path,
) -> None:
    config = _rebuild_config(tmp_path)
    parts = build_components(config)
    try:
        parts.vector_store.add(_nodes("old", 2, dim=384))
        fingerprint = {"chunk_size": 99}
        staged = StagedRebuild(config, parts, fingerprint, in_collection=True)
        staged.target.vector_store.add(_nodes("new", 3, dim=384))
        staged.manifest.record({f"new-{d}": "h" for d in range(3)})
        # Until the switch the live name answers the old documents.
        live = {
            n.ref_doc_id for n in CachedQdrantVectorStore(LIVE, client=parts.client).iter_nodes()
        }
        assert live == {"old-0", "old-1"}
        assert staged.finish(6) == 6
        names = read_names(parts.client, LIVE)
        assert names.is_alias and names.staged == (names.target,)
        staged.switch()
        new = {
            n.ref_doc_id for n in CachedQdrantVectorStore(LIVE, client=parts.client).iter_nodes()
        }
        assert new == {"new-0", "new-1", "new-2"}
        assert set(IngestManifest(config.manifest_path, fingerprint).documents) == new
    finally:
        parts.close()


def test_a_failed_rebuild_check_drops_the_new_collection(tmp_path: Path) -> None:
    config = _rebuild_config(tmp_path)
    parts = build_components(config)
    try:
        parts.vector_store.add(_nodes("old", 2, dim=384))
        staged = StagedRebuild(config, parts, {"chunk_size": 99}, in_collection=True)
        staged.target.vector_store.add(_nodes("new", 1, dim=384))
        with pytest.raises(RebuildError, match="old index was kept"):
            staged.finish(5)  # 2 points written, 5 claimed
        assert read_names(parts.client, LIVE).staged == ()
        assert not read_names(parts.client, LIVE).is_alias
        live = {
            n.ref_doc_id for n in CachedQdrantVectorStore(LIVE, client=parts.client).iter_nodes()
        }
        assert live == {"old-0", "old-1"}
    finally:
        parts.close()


def test_a_collection_behind_a_users_alias_is_switched_from_but_kept(
    client: QdrantClient, config: PipelineConfig, tmp_path: Path
) -> None:
    CachedQdrantVectorStore("docs_v3", client=client).add(_nodes("old", 3))
    create = models.CreateAlias(collection_name="docs_v3", alias_name=LIVE)
    client.update_collection_aliases(
        change_aliases_operations=[models.CreateAliasOperation(create_alias=create)]
    )
    result = restore_collection(config, client, _backup(client, tmp_path))
    assert read_names(client, LIVE).target == result["collection"]
    assert _answers(client) == {f"new-{d}" for d in range(4)}
    assert client.count("docs_v3", exact=True).count == 6  # not ragdrop's to drop


def test_a_rebuild_with_no_points_leaves_nothing_indexed(tmp_path: Path) -> None:
    config = _rebuild_config(tmp_path)
    parts = build_components(config)
    try:
        parts.vector_store.add(_nodes("old", 2, dim=384))
        staged = StagedRebuild(config, parts, {"chunk_size": 99}, in_collection=True)
        assert staged.finish(0) == 0
        assert read_names(parts.client, LIVE).target is None
        staged.switch()
        assert IngestManifest(config.manifest_path, {"chunk_size": 99}).documents == {}
    finally:
        parts.close()
