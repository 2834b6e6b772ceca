"""Per-stage timing shared by every component: one hook, many listeners."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

StageListener = Callable[[str, float, BaseException | None], None]

# Timings of the request in progress (a dict per request), set by `record_stages`.
_current: ContextVar[dict[str, float] | None] = ContextVar("ragdrop_stage_times", default=None)
_listeners: list[StageListener] = []


def add_stage_listener(listener: StageListener) -> None:
    """Call ``listener(stage, seconds, error)`` after every stage (metrics, spans)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_stage_listener(listener: StageListener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a block as stage ``name`` (embed, bm25, vector, fusion, rerank, cache, ...)."""
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        error = exc
        raise
    finally:
        elapsed = time.perf_counter() - start
        times = _current.get()
        if times is not None:
            times[name] = times.get(name, 0.0) + elapsed
        for listener in list(_listeners):
            listener(name, elapsed, error)


@contextmanager
def record_stages() -> Iterator[dict[str, float]]:
    """Collect the seconds spent per stage inside the block into the yielded dict."""
    times: dict[str, float] = {}
    token = _current.set(times)
    try:
        yield times
    finally:
        _current.reset(token)
