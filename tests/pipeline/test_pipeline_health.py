"""`RagPipeline.health` checks what questions read, on real folders, and creates nothing."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from qdrant_client.http import models as qm

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.health import read_bm25_state
from ragdrop.qdrant_edge import EdgeQdrantClient

pytestmark = pytest.mark.integration


def config_for(data_dir: Path, **overrides: Any) -> PipelineConfig:
    return PipelineConfig(data_dir=data_dir, collection="h", rerank=False, **overrides)


def ingest(data_dir: Path, documents: list[Document]) -> None:
    with RagPipeline(config_for(data_dir)) as pipeline:
        pipeline.ingest(documents)


def health(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    with RagPipeline(config_for(data_dir, **overrides)) as pipeline:
        return pipeline.health().to_dict()


@pytest.fixture()
def data_dir(tmp_path: Path, fixture_documents: list[Document]) -> Path:
    ingest(tmp_path / "data", fixture_documents)
    return tmp_path / "data"


def failed(report: dict[str, Any]) -> dict[str, str]:
    return {name: c["detail"] for name, c in report["checks"].items() if not c["ok"]}


def test_an_intact_index_is_ready_and_loads_the_persisted_bm25(data_dir: Path) -> None:
    report = health(data_dir)
    assert report["status"] == "ok", report
    checks = report["checks"]
    assert "5 documents indexed" in checks["manifest"]["detail"]
    assert "persisted state loaded" in checks["bm25"]["detail"]


def test_a_missing_data_dir_is_not_ready_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data"
    report = health(missing)
    assert report["status"] == "fail"
    problems = failed(report)
    assert "does not exist" in problems["data_dir"] and "ragdrop ingest" in problems["data_dir"]
    # Nothing inside it was opened, so nothing was created.
    assert set(problems) == {"data_dir", "manifest", "cache_dir", "qdrant", "models"} | {
        "collection",
        "switch",
        "id_map",
        "bm25",
    }
    assert problems["qdrant"].startswith("not checked")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("content", [b"", b'{"version": 1, "fing', b"[1, 2]"])
def test_a_damaged_manifest_is_not_ready(data_dir: Path, content: bytes) -> None:
    (data_dir / "manifest-h.json").write_bytes(content)
    problems = failed(health(data_dir))
    assert list(problems) == ["manifest"]
    assert "delete it to re-index" in problems["manifest"]


def test_a_manifest_symlink_is_not_followed(data_dir: Path, tmp_path: Path) -> None:
    manifest = data_dir / "manifest-h.json"
    manifest.replace(tmp_path / "outside.json")
    manifest.symlink_to(tmp_path / "missing.json")  # dangling: not "no manifest"
    assert "symbolic link" in failed(health(data_dir))["manifest"]


def test_a_manifest_of_other_settings_names_them(data_dir: Path) -> None:
    problems = failed(health(data_dir, chunk_overlap=7))
    assert list(problems) == ["manifest"]
    assert "chunk_overlap: 32 -> 7" in problems["manifest"]


def test_points_without_a_manifest_are_not_ready(data_dir: Path) -> None:
    (data_dir / "manifest-h.json").unlink()
    problems = failed(health(data_dir))
    assert list(problems) == ["collection"]
    assert "lists no documents" in problems["collection"]


def test_a_manifest_without_points_is_not_ready(data_dir: Path) -> None:
    manifest = (data_dir / "manifest-h.json").read_bytes()
    shutil.rmtree(data_dir / "qdrant")
    (data_dir / "manifest-h.json").write_bytes(manifest)
    problems = failed(health(data_dir))
    assert (
        "holds no points" in problems["collection"] and "ragdrop restore" in problems["collection"]
    )


@pytest.mark.parametrize(
    "damaged", ["retriever.json", "index/ids.json", "index/df.npy", "nodes.jsonl"]
)
def test_damaged_bm25_state_is_ready_with_a_note_and_rebuilt(data_dir: Path, damaged: str) -> None:
    state = data_dir / "bm25" / "h"
    (state / damaged).write_bytes(b"")
    assert read_bm25_state(state).problem is not None
    report = health(data_dir)
    assert report["status"] == "ok", report
    detail = report["checks"]["bm25"]["detail"]
    assert "unreadable" in detail and "rebuilt from the store's points" in detail
    assert read_bm25_state(state).problem is None  # the open rebuilt it


def test_stale_bm25_state_is_ready_with_a_note(
    tmp_path: Path, fixture_documents: list[Document]
) -> None:
    data_dir = tmp_path / "data"
    ingest(data_dir, fixture_documents[:2])
    old = tmp_path / "old-bm25"
    shutil.copytree(data_dir / "bm25" / "h", old)
    ingest(data_dir, fixture_documents)
    shutil.rmtree(data_dir / "bm25" / "h")
    shutil.copytree(old, data_dir / "bm25" / "h")
    report = health(data_dir)
    assert report["status"] == "ok", report
    assert "stale" in report["checks"]["bm25"]["detail"]


def test_health_of_an_intact_index_rewrites_no_manifest_or_bm25_file(data_dir: Path) -> None:
    # Qdrant's and SQLite's files are theirs to checkpoint when opened; the writer lock
    # records its holder.
    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(data_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(data_dir.rglob("*"))
            if not {"qdrant", "cache", ".ragdrop.lock"} & set(p.relative_to(data_dir).parts)
        }

    before = snapshot()
    assert health(data_dir)["status"] == "ok"
    assert snapshot() == before


@pytest.mark.parametrize("damage", ["metadata", "byte", "truncated"])
def test_damaged_bm25_nodes_file_is_rebuilt_never_a_wrong_answer(
    data_dir: Path, damage: str
) -> None:
    """``nodes.jsonl`` holds each chunk's metadata, which filters read: a change that keeps
    it valid JSON with the same ids is caught by its checksum, never answered from."""
    path = data_dir / "bm25" / "h" / "nodes.jsonl"
    data = path.read_bytes()
    if damage == "metadata":  # the bm25 document's chunks now claim to be about cooking
        data = data.replace(b'"topic": "bm25"', b'"topic": "cooking"')
    elif damage == "byte":
        data = (
            data[: len(data) // 3]
            + bytes([data[len(data) // 3] ^ 0x20])
            + data[len(data) // 3 + 1 :]
        )
    else:
        data = data[: len(data) - 7]
    path.write_bytes(data)
    assert "unreadable" in str(read_bm25_state(data_dir / "bm25" / "h").problem)
    with RagPipeline(config_for(data_dir, retriever="bm25")) as pipeline:
        report = pipeline.health().to_dict()
        assert report["status"] == "ok", report
        assert "rebuilt from the store's points" in report["checks"]["bm25"]["detail"]
        cooking = MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
        question = "What do k1 and b control in BM25, and how long does bread dough rise?"
        hits = pipeline.query(question, top_k=3, filters=cooking)
        assert {s.ref_doc_id for s in hits.sources} == {"cooking"}


def test_a_failed_background_index_build_is_degraded_with_its_reason(data_dir: Path) -> None:
    """Qdrant Edge builds its index in the background (issue 16); a build that fails (here: its
    new segment's directory cannot be created) turns the collection red, and readiness says
    why, while questions are still answered."""
    with RagPipeline(config_for(data_dir)) as pipeline:
        client = pipeline.components.client
        assert isinstance(client, EdgeQdrantClient)
        optimizer = client.backend.optimizer
        optimizer.idle_s = 3600.0  # the writes below wait for the build this test starts
        vectors = client.get_collection("h").config.params.vectors
        size = next(iter(vectors.values())).size if isinstance(vectors, dict) else vectors.size
        using = next(iter(vectors)) if isinstance(vectors, dict) else None
        rng = np.random.default_rng(0)
        for first in range(0, 7000, 1000):  # past Edge's default indexing_threshold
            client.upsert(
                "h",
                [
                    qm.PointStruct(
                        id=str(uuid.UUID(int=i + 1)),
                        vector={using: v.tolist()} if using else v.tolist(),
                    )
                    for i, v in enumerate(rng.normal(size=(1000, size)), first)
                ],
            )
        assert client.get_collection("h").status == qm.CollectionStatus.GREY
        segments = client.backend.collection("h").path / "shard" / "segments"
        moved = segments.with_name("segments.moved")
        segments.rename(moved)
        segments.touch()  # a file where the build creates its segment's directory
        try:
            optimizer.idle_s = 0.0
            optimizer.notify("h")
            assert optimizer.wait_idle(timeout=60)
            report = pipeline.health().to_dict()
            answer = pipeline.query("What do k1 and b control in BM25?", top_k=2)
        finally:
            segments.unlink()
            moved.rename(segments)
    assert report["status"] == "fail"
    problem = failed(report)["collection"]
    assert "degraded: its index build failed" in problem and "Not a directory" in problem
    assert re.search(r"scanning the 7\d\d\d unindexed points", problem) and "optimize()" in problem
    assert answer.sources  # still answered, by scanning the unindexed points
