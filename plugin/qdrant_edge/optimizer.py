"""`BackgroundOptimizer`: builds Edge's HNSW index in a daemon thread once writes go quiet.

Qdrant Edge has no optimizer of its own: ``EdgeShard.optimize`` indexes the segments past the
collection's ``indexing_threshold`` only when called. This class calls it the way a Qdrant
server's optimizer would run: after a write burst has been quiet for ``idle_s``, and during a
long burst once the unindexed points reach ``max(max_unindexed, growth * indexed)``. Unindexed
points are searched exactly, so recall never drops below the index's while points wait.

In qdrant-edge-py 0.9.0 ``optimize`` holds the GIL for the whole build (a pure-Python thread
makes no progress while it runs), so every Python thread of the process, writers and readers included, waits while it runs. That is why builds wait for
a quiet moment instead of running beside the writes; only a long burst pays builds in the
middle, which bound how much a query must scan. The mid-burst threshold grows with the index
(``growth``, like the old synchronous doubling, but in the background), so a long burst pays
few builds; ``benchmarks/edge_autoindex.py`` prints the add wall time against the doubling.
Edge extends the largest segment's graph when it
merges, so a build costs about its new points, whatever the schedule; the schedule only decides
how much of that cost stalls the writer and how much waits for the pause.

Example:
    >>> built = []
    >>> optimizer = BackgroundOptimizer(lambda name: built.append(name) or True,
    ...                                 lambda name: (0, 0), idle_s=0.01)
    >>> optimizer.notify("docs")
    >>> optimizer.wait_idle(timeout=5)
    True
    >>> built, optimizer.builds
    (['docs'], 1)
    >>> optimizer.stop()
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ragdrop.core.validation import finite_number, positive_int

logger = logging.getLogger(__name__)

OptimizerState = Literal["idle", "pending", "optimizing"]
"""Where a collection stands: nothing to build, a build due after the burst, a build running."""

DEFAULT_IDLE_S = 0.5
DEFAULT_MAX_UNINDEXED = 20_000
DEFAULT_GROWTH = 1.0


@dataclass
class _Pending:
    last_write: float
    last_check: float
    size_trigger: bool = True  # off once a mid-burst build found nothing Edge would index


class BackgroundOptimizer:
    """Runs ``optimize(name)`` in one daemon thread after writes to collection ``name`` go quiet.

    Args:
        optimize: builds the index of a collection; returns whether anything was built. Called
            from the optimizer's thread only.
        index_counts: ``(indexed, unindexed)`` points of a collection: in its HNSW index, and
            waiting (searched exactly).
        idle_s: seconds without a write to a collection before its index is built.
        max_unindexed: during a burst, build once at least this many points wait unindexed...
        growth: ... and at least ``growth`` times the indexed points (0: ``max_unindexed``
            alone), so the writer stalls for fewer builds as the collection grows.

    The thread starts on the first `notify` and ends with `stop` (called at interpreter exit
    too). A failed build is logged, counted in `errors` and reported by `error` until a later
    build of that collection succeeds (`last_error`: the latest of any); the thread goes on.
    `builds` and `build_s` count the builds that indexed something and their seconds.

    Example:
        >>> optimizer = BackgroundOptimizer(lambda name: True, lambda name: (0, 0))
        >>> optimizer.state("docs")
        'idle'
        >>> optimizer.stop()
    """

    def __init__(
        self,
        optimize: Callable[[str], bool],
        index_counts: Callable[[str], tuple[int, int]],
        idle_s: float = DEFAULT_IDLE_S,
        max_unindexed: int = DEFAULT_MAX_UNINDEXED,
        growth: float = DEFAULT_GROWTH,
    ) -> None:
        self.idle_s = finite_number("idle_s", idle_s, minimum=0.0)
        self.max_unindexed = positive_int("max_unindexed", max_unindexed)
        self.growth = finite_number("growth", growth, minimum=0.0)
        self._optimize = optimize
        self._index_counts = index_counts
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._busy: str | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failures: dict[str, str] = {}
        self.builds = 0
        self.build_s = 0.0
        self.errors = 0
        self.last_error: str | None = None
        self.last_build_s: float | None = None

    # ------------------------------------------------------------------ callers' side

    def notify(self, name: str) -> None:
        """Collection ``name`` was written: build its index once writes pause."""
        now = time.monotonic()
        with self._cond:
            if self._stopping:
                return
            entry = self._pending.get(name)
            if entry is not None:  # the thread already waits for this burst to end
                entry.last_write = now
            else:
                self._pending[name] = _Pending(now, now)
            # woken on every write (one wake-up per write call), so settings changed since
            # its last wait (idle_s, max_unindexed, growth) apply now
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ragdrop-edge-optimizer", daemon=True
                )
                self._thread.start()
                atexit.register(self.stop)
            self._cond.notify_all()

    def forget(self, name: str) -> None:
        """Drop what is due for collection ``name`` (it was deleted)."""
        with self._cond:
            self._pending.pop(name, None)
            self._failures.pop(name, None)
            self._cond.notify_all()

    def error(self, name: str) -> str | None:
        """Why the last background build of ``name`` failed; None once one succeeds."""
        with self._cond:
            return self._failures.get(name)

    def state(self, name: str) -> OptimizerState:
        """``"optimizing"``, ``"pending"`` (a build is due after the burst) or ``"idle"``."""
        with self._cond:
            if self._busy == name:
                return "optimizing"
            return "pending" if name in self._pending else "idle"

    @property
    def idle(self) -> bool:
        """No build running and none due."""
        with self._cond:
            return self._busy is None and not self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until `idle` (``True``) or ``timeout`` seconds pass (``False``)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._stopping or (self._busy is None and not self._pending), timeout
            )

    def stop(self) -> None:
        """End the thread after the build it is running (no build starts after this)."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            atexit.unregister(self.stop)
            # a client dropped on this thread closes its engine here: it cannot join itself
            if thread is not threading.current_thread():
                thread.join()

    # ------------------------------------------------------------------ the thread

    def _next_job(self, now: float) -> tuple[str, bool] | None:
        """The collection to work on and whether its burst is over (else: a size check)."""
        for name, entry in self._pending.items():
            if now - entry.last_write >= self.idle_s:
                return name, True
        for name, entry in self._pending.items():
            if entry.size_trigger and now - entry.last_check >= self.idle_s:
                entry.last_check = now
                return name, False
        return None

    def _wait_s(self, now: float) -> float | None:
        if not self._pending:
            return None
        due = min(entry.last_write + self.idle_s for entry in self._pending.values())
        return max(due - now, 0.0) + 0.001

    def _run(self) -> None:
        while True:
            with self._cond:
                job = None
                while not self._stopping:
                    job = self._next_job(time.monotonic())
                    if job is not None:
                        break
                    self._cond.wait(self._wait_s(time.monotonic()))
                if self._stopping or job is None:
                    return
                name, quiet = job
                if quiet:
                    del self._pending[name]
                self._busy = name
            try:
                self._work(name, quiet)
            finally:
                with self._cond:
                    self._busy = None
                    self._cond.notify_all()

    def _burst_needs_build(self, name: str) -> bool:
        indexed, unindexed = self._index_counts(name)
        return unindexed >= max(self.max_unindexed, self.growth * indexed)

    def _work(self, name: str, quiet: bool) -> None:
        try:
            if not quiet and not self._burst_needs_build(name):
                return
            start = time.perf_counter()
            built = self._optimize(name)
        except Exception as exc:  # a background build must never kill the thread
            message = f"{type(exc).__name__}: {exc}"
            with self._cond:
                self.errors += 1
                self.last_error = self._failures[name] = message
            logger.warning("background index build of %r failed", name, exc_info=exc)
            return
        if built:
            with self._cond:
                self.builds += 1
                self.last_build_s = time.perf_counter() - start
                self.build_s += self.last_build_s
                self._failures.pop(name, None)
        elif not quiet:
            with self._cond:  # Edge found nothing past its indexing_threshold: wait for quiet
                entry = self._pending.get(name)
                if entry is not None:
                    entry.size_trigger = False
