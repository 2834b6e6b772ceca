"""Background ingestion jobs persisted as a JSON journal, so a killed server finishes them.

Each job is two files under ``directory``: ``<id>.json`` (state) and ``<id>.docs.json`` (the
documents, removed when the job is done). Files are replaced atomically, so a kill leaves either
the old or the new state. Re-running a job is safe because the pipeline skips documents whose
content hash is already recorded, and records a document only after its points are written.

Every state is checked when read: a record that is not valid JSON, has a wrong field, or is a
symlink or a directory makes that job ``failed`` with the reason (rewritten as such when the
server starts), while every other job still runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from ragdrop.core.files import (
    UnsafePathError,
    atomic_write_json,
    open_lock_file,
    private_dir,
    read_json,
)

logger = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
JobStatus = Literal["queued", "running", "done", "failed"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "done", "failed")
PENDING: tuple[JobStatus, ...] = ("queued", "running")
# Field -> (accepted types, whether None is allowed); bools are never counts.
_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "documents": ((int,), False),
    "processed": ((int,), False),
    "attempts": ((int,), False),
    "created_at": ((int, float), False),
    "updated_at": ((int, float), False),
    "report": ((dict,), False),
    "error": ((str,), True),
}


class JobFileError(ValueError):
    """A job file that cannot be used: unreadable, not JSON, or with a wrong field."""


def check_state(state: object, job_id: str) -> dict[str, Any]:
    """``state`` if it is a valid record of job ``job_id``; else raise `JobFileError`."""
    if not isinstance(state, dict):
        raise JobFileError(f"it holds a JSON {type(state).__name__}, not an object")
    if state.get("job_id") != job_id:
        raise JobFileError("its job_id is not the file's name")
    if state.get("status") not in STATUSES:
        raise JobFileError(f"its status is not one of {list(STATUSES)}")
    for name, (types, nullable) in _FIELDS.items():
        value = state.get(name)
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            allowed = " or ".join(t.__name__ for t in types)
            raise JobFileError(f"its field {name!r} is {type(value).__name__}, not {allowed}")
        if isinstance(value, int | float) and not (0 <= value < math.inf):
            raise JobFileError(f"its field {name!r} is negative or not finite")
    return state


def job_id_for(documents: Sequence[dict[str, Any]]) -> str:
    """Content hash of a job's documents: the same documents give the same job."""
    canonical = json.dumps(
        list(documents), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def document_id_for(text: str) -> str:
    """Id of a document posted without one: a hash of its text."""
    return "doc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class JobJournal:
    """Job states and payloads on disk (JSON only; nothing is unpickled).

    Args:
        directory: where job files live; created 0700, refused if others may write it.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = private_dir(directory, "job directory")
        self._lock = threading.Lock()

    def _state_path(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise ValueError(f"job_id must be 32 lowercase hex characters, got {job_id!r}")
        return self.directory / f"{job_id}.json"

    def _docs_path(self, job_id: str) -> Path:
        return self._state_path(job_id).with_suffix(".docs.json")

    def _read_state(self, job_id: str) -> dict[str, Any] | None:
        """The job's checked state, None if unknown; `JobFileError` when unusable."""
        path = self._state_path(job_id)
        try:
            state = read_json(path)
        except FileNotFoundError:
            return None
        except UnsafePathError as exc:
            raise JobFileError("it is a symbolic link") from exc
        except IsADirectoryError as exc:
            raise JobFileError("it is a directory") from exc
        except OSError as exc:
            raise JobFileError(f"it cannot be read ({exc.strerror or type(exc).__name__})") from exc
        except ValueError as exc:  # not UTF-8 or not JSON (truncated, garbage)
            raise JobFileError(f"it is not valid JSON ({type(exc).__name__})") from exc
        return check_state(state, job_id)

    def _failed_record(self, job_id: str, reason: str) -> dict[str, Any]:
        path = self._state_path(job_id)
        try:
            created = os.lstat(path).st_mtime
        except OSError:
            created = time.time()
        return {
            "job_id": job_id,
            "status": "failed",
            "documents": 0,
            "processed": 0,
            "report": {},
            "error": f"job record {path.name} is unusable: {reason}; "
            "post the documents again to re-run the job",
            "attempts": 0,
            "created_at": created,
            "updated_at": time.time(),
        }

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's state, or None if unknown; a ``failed`` state naming the reason when its
        record is unusable (garbage, truncated, wrong types, a symlink or a directory)."""
        try:
            return self._read_state(job_id)
        except JobFileError as exc:
            return self._failed_record(job_id, str(exc))

    def _mark_failed(self, job_id: str, reason: str) -> None:
        """Replace an unusable record by a ``failed`` one (a symlink is replaced, not followed)."""
        state = self._failed_record(job_id, reason)
        logger.warning("ingestion job %s marked failed: %s", job_id, state["error"])
        try:
            atomic_write_json(self._state_path(job_id), state)
        except OSError as exc:
            logger.warning("job record of %s could not be rewritten: %s", job_id, exc)

    def submit(self, documents: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Record a job for ``documents``; returns ``(state, queued_now)``.

        A job with the same documents that is still queued or running is returned as is.
        """
        job_id = job_id_for(documents)
        with self._lock:
            state = self.get(job_id)
            if state is not None and state["status"] in PENDING:
                return state, False
            now = time.time()
            atomic_write_json(self._docs_path(job_id), list(documents))
            state = {
                "job_id": job_id,
                "status": "queued",
                "documents": len(documents),
                "processed": 0,
                "report": {},
                "error": None,
                "attempts": (state or {}).get("attempts", 0),
                "created_at": (state or {}).get("created_at", now),
                "updated_at": now,
            }
            atomic_write_json(self._state_path(job_id), state)
            return state, True

    def update(self, job_id: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the job's state and write it atomically."""
        with self._lock:
            state = self.get(job_id)
            if state is None:
                raise KeyError(f"unknown job {job_id!r}")
            state.update(fields, updated_at=time.time())
            atomic_write_json(self._state_path(job_id), state)
            return state

    def documents(self, job_id: str) -> list[dict[str, Any]]:
        """The documents of a job that is not done yet (`JobFileError` when unusable)."""
        path = self._docs_path(job_id)
        try:
            documents = read_json(path)
        except (OSError, ValueError) as exc:
            reason = (
                "it is a symbolic link"
                if isinstance(exc, UnsafePathError)
                else (f"it cannot be read as JSON ({type(exc).__name__})")
            )
            raise JobFileError(f"job documents {path.name} are unusable: {reason}") from exc
        if not isinstance(documents, list) or not all(
            isinstance(d, dict)
            and isinstance(d.get("id"), str)
            and isinstance(d.get("text"), str)
            and isinstance(d.get("metadata"), dict)
            for d in documents
        ):
            raise JobFileError(
                f"job documents {path.name} are unusable: not a list of id/text/metadata objects"
            )
        return documents

    def drop_documents(self, job_id: str) -> None:
        """Forget a finished job's document text."""
        self._docs_path(job_id).unlink(missing_ok=True)

    def pending(self) -> list[str]:
        """Ids of jobs queued or running (e.g. interrupted by a kill), oldest first.

        A job whose record is unusable is marked failed with the reason (logged), so the
        others still run and ``GET /jobs/{id}`` tells what happened.
        """
        states = []
        for path in sorted(self.directory.glob("*.json")):
            if path.name.endswith(".docs.json") or not JOB_ID.match(path.stem):
                continue
            with self._lock:
                try:
                    state = self._read_state(path.stem)
                except JobFileError as exc:
                    self._mark_failed(path.stem, str(exc))
                    continue
            if state is not None and state["status"] in PENDING:
                states.append(state)
        return [s["job_id"] for s in sorted(states, key=lambda s: s["created_at"])]

    @contextmanager
    def claim(self, job_id: str) -> Iterator[bool]:
        """Exclusive claim on a job across processes (a flock the kernel drops on a kill)."""
        fd = open_lock_file(self.directory / f"{job_id}.lock")
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


Ingest = Callable[[list[dict[str, Any]]], dict[str, Any]]


class IngestWorker:
    """One thread that runs queued jobs in order, batch by batch, recording progress.

    Args:
        journal: the job journal.
        ingest: ingests one batch of document dicts and returns the report as a dict.
        batch_size: documents per ``ingest`` call (progress is recorded between batches).
        on_finish: called with the final state ``"done"``/``"failed"`` (metrics).
    """

    def __init__(
        self,
        journal: JobJournal,
        ingest: Ingest,
        batch_size: int = 64,
        on_finish: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.journal = journal
        self._ingest = ingest
        self._batch_size = batch_size
        self._on_finish = on_finish
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread and re-queue the jobs a previous process left unfinished."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="ragdrop-ingest", daemon=True)
        self._thread.start()
        for job_id in self.journal.pending():
            logger.info("resuming ingestion job %s", job_id)
            self._queue.put(job_id)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the job in progress, then stop (queued jobs stay in the journal)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self.run_job(job_id)
            except Exception:  # keep the worker alive; the job records its failure
                logger.exception("ingestion job %s crashed the worker loop", job_id)

    def run_job(self, job_id: str) -> None:
        """Run one job to completion unless another process holds it or it is finished."""
        try:
            self._run_claimed(job_id)
        except UnsafePathError as exc:  # a symlink planted as the job's lock file
            self.journal.update(job_id, status="failed", error=f"job lock file refused: {exc}")
            if self._on_finish:
                self._on_finish("failed")

    def _run_claimed(self, job_id: str) -> None:
        with self.journal.claim(job_id) as claimed:
            state = self.journal.get(job_id)
            if not claimed or state is None or state["status"] not in PENDING:
                return
            state = self.journal.update(
                job_id, status="running", attempts=state["attempts"] + 1, error=None
            )
            totals: dict[str, Any] = {}
            processed = 0
            try:
                documents = self.journal.documents(job_id)
                for start in range(0, len(documents), self._batch_size):
                    batch = documents[start : start + self._batch_size]
                    report = self._ingest(batch)
                    for key, value in report.items():
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            totals[key] = totals.get(key, 0) + value
                    processed += len(batch)
                    self.journal.update(job_id, processed=processed, report=totals)
            except Exception as exc:
                # Only the type: exception messages can quote document text (ours do not).
                error = str(exc) if isinstance(exc, JobFileError) else type(exc).__name__
                logger.warning("ingestion job %s failed: %s", job_id, error)
                self.journal.update(job_id, status="failed", error=error)
                if self._on_finish:
                    self._on_finish("failed")
                return
            self.journal.update(job_id, status="done", processed=processed, report=totals)
            self.journal.drop_documents(job_id)
            logger.info("ingestion job %s done: %d documents", job_id, processed)
            if self._on_finish:
                self._on_finish("done")
