"""A corrupt job record fails that job with the reason; the server starts and runs the others."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import serve_in_thread, wait_for_job

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.server.app import create_app
from ragdrop.server.jobs import JobJournal, job_id_for


def _docs(tag: str) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-1", "text": f"The {tag} harbour lantern glows at dusk.", "metadata": {}}]


def _garbage(path: Path, state: dict[str, Any]) -> None:
    path.write_bytes(os.urandom(64))


def _truncated(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state)[:40])


def _wrong_types(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps({**state, "status": 5, "attempts": "1", "documents": True}))


def _bool_count(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps({**state, "attempts": True}))


def _missing_fields(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps({"job_id": state["job_id"], "status": "queued"}))


def _list(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps([state]))


def _other_job(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps({**state, "job_id": "f" * 32}))


def _not_finite(path: Path, state: dict[str, Any]) -> None:
    path.write_text(json.dumps(state).replace(str(state["created_at"]), "NaN"))


def _symlink(path: Path, state: dict[str, Any]) -> None:
    target = path.parent.parent / f"outside-{path.name}"
    target.write_text(json.dumps(state))
    path.unlink()
    path.symlink_to(target)


def _directory(path: Path, state: dict[str, Any]) -> None:
    path.unlink()
    path.mkdir()


DAMAGES: list[Callable[[Path, dict[str, Any]], None]] = [
    _garbage,
    _truncated,
    _wrong_types,
    _bool_count,
    _missing_fields,
    _list,
    _other_job,
    _not_finite,
    _symlink,
    _directory,
]


def _plant(journal: JobJournal) -> tuple[str, dict[str, str]]:
    """A good queued job and one damaged queued job per kind of damage."""
    good, _ = journal.submit(_docs("good"))
    bad: dict[str, str] = {}
    for damage in DAMAGES:
        state, _ = journal.submit(_docs(damage.__name__.strip("_")))
        damage(journal.directory / f"{state['job_id']}.json", state)
        bad[damage.__name__] = state["job_id"]
    return good["job_id"], bad


@pytest.mark.unit
def test_pending_skips_and_fails_every_damaged_record(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs")
    good, bad = _plant(journal)
    outside = {p.name: p.read_bytes() for p in tmp_path.glob("outside-*")}
    assert journal.pending() == [good]
    for name, job_id in bad.items():
        state = journal.get(job_id)
        assert state is not None and state["status"] == "failed", name
        assert "unusable" in state["error"] and "post the documents again" in state["error"]
        if name != "_directory":  # rewritten as a real failed record, the symlink replaced
            path = journal.directory / f"{job_id}.json"
            assert not path.is_symlink()
            assert json.loads(path.read_text())["status"] == "failed"
    assert "symbolic link" in str(journal.get(bad["_symlink"])["error"])  # type: ignore[index]
    assert "not valid JSON" in str(journal.get(bad["_garbage"])["error"])  # type: ignore[index]
    assert {p.name: p.read_bytes() for p in tmp_path.glob("outside-*")} == outside
    # Posting the same documents again re-queues the job with a fresh, valid record.
    state, queued = journal.submit(_docs("garbage"))
    assert queued and state["status"] == "queued" and state["job_id"] == bad["_garbage"]
    assert set(journal.pending()) == {good, bad["_garbage"]}


@pytest.mark.unit
def test_get_of_a_damaged_record_fails_without_raising(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs")
    state, _ = journal.submit(_docs("x"))
    path = journal.directory / f"{state['job_id']}.json"
    _truncated(path, state)
    got = journal.get(state["job_id"])
    assert got is not None and got["status"] == "failed" and got["job_id"] == state["job_id"]
    assert journal.get("0" * 32) is None


@pytest.mark.integration
def test_server_starts_fails_damaged_jobs_and_runs_the_others(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    journal = JobJournal(data_dir / "jobs")
    good, bad = _plant(journal)
    # A valid record whose documents file is a symlink: the job fails with that reason.
    linked = job_id_for(_docs("linked"))
    journal.submit(_docs("linked"))
    docs_path = journal.directory / f"{linked}.docs.json"
    target = tmp_path / "outside-docs.json"
    target.write_bytes(docs_path.read_bytes())
    docs_path.unlink()
    docs_path.symlink_to(target)
    with (
        RagPipeline(PipelineConfig(data_dir=data_dir, collection="jobs")) as pipeline,
        serve_in_thread(create_app(pipeline)) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        assert client.get("/health/live").status_code == 200
        assert wait_for_job(client, good)["status"] == "done"
        for name, job_id in bad.items():
            response = client.get(f"/jobs/{job_id}")
            assert response.status_code == 200, (name, response.text)
            assert response.json()["status"] == "failed", name
            assert "unusable" in response.json()["error"], name
        state = wait_for_job(client, linked)
        assert state["status"] == "failed" and "symbolic link" in state["error"]
        answer = client.post("/query", json={"question": "harbour lantern at dusk"}).json()
        assert "good-1" in [s["ref_doc_id"] for s in answer["sources"]], answer
