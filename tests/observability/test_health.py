"""Liveness/readiness checks against real Qdrant, real directories and the real model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient
from qdrant_client.models import Distance, VectorParams

from ragdrop.observability.health import (
    HealthMonitor,
    OnceCheck,
    check_collection,
    check_directory_writable,
    check_qdrant_reachable,
    run_check,
)
from ragdrop.pipeline import PipelineConfig, RagPipeline

pytestmark = pytest.mark.integration


def test_qdrant_reachable(qdrant_client: Any) -> None:
    assert "reachable" in check_qdrant_reachable(qdrant_client)


def test_qdrant_unreachable_fails_with_the_exception_type() -> None:
    client = QdrantClient(url="http://127.0.0.1:9", timeout=1, check_compatibility=False)
    result = run_check("qdrant", lambda: check_qdrant_reachable(client))
    assert not result.ok
    assert "Error" in result.detail or "Exception" in result.detail


def test_collection_absent_is_ok_unless_required(qdrant_client: Any) -> None:
    assert "absent" in check_collection(qdrant_client, "missing", 384)
    with pytest.raises(LookupError, match="ingest documents first"):
        check_collection(qdrant_client, "missing", 384, required=True)


def test_collection_with_the_wrong_vector_size_fails(qdrant_client: Any) -> None:
    qdrant_client.create_collection(
        "c", vectors_config=VectorParams(size=8, distance=Distance.COSINE)
    )
    assert "8" in check_collection(qdrant_client, "c", 8)
    with pytest.raises(ValueError, match=r"size \[8\].*makes 384"):
        check_collection(qdrant_client, "c", lambda: 384)


def test_named_vectors_are_understood(qdrant_client: Any) -> None:
    qdrant_client.create_collection(
        "named", vectors_config={"text-dense": VectorParams(size=384, distance=Distance.COSINE)}
    )
    assert "text-dense" in check_collection(qdrant_client, "named", 384)


def test_directory_writable_creates_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_directory_writable(target)
    assert "absent: made later" in check_directory_writable(target, missing="made later")
    assert not target.exists()
    target.mkdir(mode=0o700)
    before = target.stat().st_mtime_ns
    assert "writable" in check_directory_writable(target)
    assert list(target.iterdir()) == [] and target.stat().st_mtime_ns == before


def test_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    target.mkdir()
    os.chmod(target, 0o777)
    with pytest.raises(PermissionError, match="chmod 700"):
        check_directory_writable(target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_fails(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir(mode=0o500)
    assert not run_check("cache", lambda: check_directory_writable(target)).ok


def test_once_check_runs_a_success_once() -> None:
    calls = []
    check = OnceCheck(lambda: calls.append(1) or "loaded")
    assert [check() for _ in range(5)] == ["loaded"] * 5
    assert calls == [1] and check.attempts == 1


def test_once_check_retries_a_failure_only_after_the_delay() -> None:
    outcomes = iter([RuntimeError("not yet"), "loaded"])

    def flaky() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    slow_retry = OnceCheck(flaky, retry_seconds=3600)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="not yet"):
            slow_retry()
    assert slow_retry.attempts == 1

    outcomes = iter([RuntimeError("not yet"), "loaded"])
    fast_retry = OnceCheck(flaky, retry_seconds=0)
    with pytest.raises(RuntimeError):
        fast_retry()
    assert fast_retry() == "loaded"
    assert fast_retry.attempts == 2


def test_report_aggregates_checks() -> None:
    def broken() -> str:
        raise OSError("disk full")

    monitor = HealthMonitor(readiness={"good": lambda: "fine", "bad": broken})
    report = monitor.ready().to_dict()
    assert report["status"] == "fail"
    assert report["checks"]["good"]["ok"] is True
    assert report["checks"]["bad"] == {
        "ok": False,
        "detail": "OSError: disk full",
        "seconds": report["checks"]["bad"]["seconds"],
    }
    assert HealthMonitor().live().ok


@pytest.fixture()
def pipeline(tmp_path: Path) -> Iterator[RagPipeline]:
    (tmp_path / "data").mkdir(mode=0o700)
    with RagPipeline(PipelineConfig(data_dir=tmp_path / "data", collection="health")) as pipe:
        yield pipe


def test_pipeline_readiness_loads_models_once(
    pipeline: RagPipeline, fixture_documents: list[Any]
) -> None:
    first = pipeline.health()
    assert first.ok, first.to_dict()
    assert [c.name for c in first.checks] == [
        "data_dir",
        "manifest",
        "cache_dir",
        "qdrant",
        "models",
        "collection",
        "switch",
        "id_map",
        "bm25",
    ]
    pipeline.ingest(fixture_documents)
    second = pipeline.health().to_dict()
    assert second["status"] == "ok"
    assert "384" in second["checks"]["collection"]["detail"]
    model_check = getattr(pipeline.health_monitor.readiness["models"], "check", None)
    assert isinstance(model_check, OnceCheck) and model_check.attempts == 1


def test_pipeline_readiness_fails_on_a_mismatched_collection(pipeline: RagPipeline) -> None:
    client = pipeline.components.client
    client.create_collection("health", vectors_config=VectorParams(size=16, distance=Distance.DOT))
    report = pipeline.health().to_dict()
    assert report["status"] == "fail"
    assert not report["checks"]["collection"]["ok"]
    assert "makes 384" in report["checks"]["collection"]["detail"]
