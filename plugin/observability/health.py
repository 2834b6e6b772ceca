"""Liveness and readiness checks per component, aggregated into one report."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragdrop.core.files import check_private_dir

# A check returns a short detail line when healthy and raises when not.
Check = Callable[[], str]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one component check."""

    name: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 6),
        }


@dataclass(frozen=True)
class HealthReport:
    """All checks of one probe; ``ok`` only when every check passed."""

    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {check.name: check.to_dict() for check in self.checks},
        }


class CheckSkipped(Exception):
    """A check that could not run because what it reads failed an earlier check.

    Reported as a failure whose detail is the message alone (no exception type).
    """


def run_check(name: str, check: Check) -> CheckResult:
    """Run ``check``; any exception becomes a failed result naming its type and message."""
    start = time.perf_counter()
    try:
        detail = check()
        ok = True
    except CheckSkipped as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # a probe reports every failure instead of raising
        detail = f"{type(exc).__name__}: {exc}"
        ok = False
    return CheckResult(name=name, ok=ok, detail=detail, seconds=time.perf_counter() - start)


class OnceCheck:
    """Run an expensive check (loading a model) once and remember the outcome.

    A success is remembered forever; a failure is retried at most every ``retry_seconds``,
    so probes never reload a model and a fixed deployment recovers without a restart.

    Args:
        check: the check to run.
        retry_seconds: minimum seconds between two attempts after a failure.
    """

    def __init__(self, check: Check, retry_seconds: float = 60.0) -> None:
        if retry_seconds < 0:
            raise ValueError(f"retry_seconds must be >= 0, got {retry_seconds!r}")
        self._check = check
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._detail: str | None = None
        self._error: Exception | None = None
        self._failed_at = 0.0
        self.attempts = 0

    def __call__(self) -> str:
        with self._lock:
            if self._detail is not None:
                return self._detail
            retry = time.monotonic() - self._failed_at >= self._retry_seconds
            if self._error is None or retry:
                self.attempts += 1
                try:
                    self._detail = self._check()
                    self._error = None
                    return self._detail
                except Exception as exc:
                    self._error = exc
                    self._failed_at = time.monotonic()
            raise self._error


def check_qdrant_reachable(client: Any) -> str:
    """Qdrant answers a list of collections."""
    collections = client.get_collections().collections
    return f"reachable, {len(collections)} collection(s)"


def vector_sizes(vectors_config: Any) -> dict[str, int]:
    """Dense vector sizes of a collection's ``params.vectors`` (unnamed vector is ``""``)."""
    if vectors_config is None:
        return {}
    if isinstance(vectors_config, Mapping):
        return {str(name): int(params.size) for name, params in vectors_config.items()}
    return {"": int(vectors_config.size)}


def check_collection(
    client: Any,
    collection: str,
    dimension: Callable[[], int | None] | int | None = None,
    required: bool = False,
) -> str:
    """The collection exists (or may still be created) and its vectors have ``dimension``.

    Args:
        client: a ``qdrant_client.QdrantClient``.
        collection: the collection name.
        dimension: the embedding model's vector size, or a callable returning it.
        required: fail when the collection does not exist (otherwise it is created on ingest).
    """
    if not client.collection_exists(collection):
        if required:
            raise LookupError(f"collection {collection!r} does not exist; ingest documents first")
        return f"collection {collection!r} absent: created on first ingest"
    info = client.get_collection(collection)
    sizes = vector_sizes(info.config.params.vectors)
    expected = dimension() if callable(dimension) else dimension
    if expected is not None and sizes and expected not in sizes.values():
        raise ValueError(
            f"collection {collection!r} stores vectors of size {sorted(set(sizes.values()))} but "
            f"the embedding model makes {expected}: use the model the collection was built with, "
            "or a new collection name"
        )
    return f"collection {collection!r}: {info.points_count or 0} points, vector sizes {sizes}"


def check_directory_writable(
    path: Path | str, what: str = "directory", missing: str | None = None
) -> str:
    """``path`` is a directory the current user owns, only they may write, and can write.

    Creates and writes nothing (a probe must not change what it checks): a missing directory
    raises FileNotFoundError, or returns ``missing`` (a note) when one is given.
    Raises `UnsafePathError` (a PermissionError) when the directory is not private.

    Args:
        path: the directory.
        what: its name in messages ("data dir", "cache dir").
        missing: the detail when a missing directory is fine (it is created on first use).
    """
    directory = Path(path).expanduser()
    if not os.path.lexists(directory):
        if missing is not None:
            return f"{directory} absent: {missing}"
        raise FileNotFoundError(f"{what} {str(directory)!r} does not exist")
    check_private_dir(directory, what)
    if not os.access(directory, os.R_OK | os.W_OK | os.X_OK):
        raise PermissionError(
            f"{what} {str(directory)!r} is not readable and writable by this user; "
            f"run `chmod 700 {directory}`"
        )
    return f"{directory} private and writable"


def check_model_loads(model: Any) -> str:
    """Load ``model`` through its ``warm_up()`` (a no-op once loaded)."""
    warm_up = getattr(model, "warm_up", None)
    if callable(warm_up):
        warm_up()
    return f"{type(model).__name__} loaded"


class HealthMonitor:
    """Liveness and readiness probes made of named checks.

    Liveness says the process works (cheap, never touches dependencies); readiness says it
    can serve: Qdrant reachable, collection settings right, cache writable, models loadable
    (``RagPipeline.health`` builds those from the checks of this module).

    Args:
        liveness: name -> check for the liveness probe.
        readiness: name -> check for the readiness probe.

    Example:
        >>> monitor = HealthMonitor(readiness={"cache": lambda: "ok"})
        >>> monitor.ready().ok
        True
    """

    def __init__(
        self,
        liveness: Mapping[str, Check] | None = None,
        readiness: Mapping[str, Check] | None = None,
    ) -> None:
        self.liveness: dict[str, Check] = dict(liveness or {"process": lambda: "alive"})
        self.readiness: dict[str, Check] = dict(readiness or {})

    def live(self) -> HealthReport:
        return HealthReport(tuple(run_check(n, c) for n, c in self.liveness.items()))

    def ready(self) -> HealthReport:
        return HealthReport(tuple(run_check(n, c) for n, c in self.readiness.items()))
