"""Per-stage timing shared by every component: one hook, many listeners.

Components wrap each stage in ``stage(Stage.X)`` and report counts with ``record_count`` /
``record_gauge``; metrics (``RagdropMetrics``) and anything else subscribe as listeners.
Every stage is also a LlamaIndex instrumentation span (``ragdrop.stage.<name>``).

Example:
    >>> with record_stages() as times, stage(Stage.EMBED):
    ...     pass
    >>> list(times)
    ['embed']
    >>> with stage("embedding"):
    ...     pass
    Traceback (most recent call last):
    ...
    ValueError: stage must be one of ['chunking', 'embed', 'upsert', 'optimize', 'retrieve', 'bm25', 'vector', 'fusion', 'cache', 'postprocess', 'rerank', 'synthesize'], got 'embedding'
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal


class Stage(enum.StrEnum):
    """Every stage a ragdrop component times; the metrics keep one label per member."""

    # ingestion
    CHUNKING = "chunking"
    EMBED = "embed"  # documents at ingestion, the question at query time
    UPSERT = "upsert"
    OPTIMIZE = "optimize"  # Qdrant Edge building its HNSW index after an ingestion
    # questions
    RETRIEVE = "retrieve"
    BM25 = "bm25"
    VECTOR = "vector"
    FUSION = "fusion"
    CACHE = "cache"
    POSTPROCESS = "postprocess"
    RERANK = "rerank"
    SYNTHESIZE = "synthesize"


def as_stage(name: Stage | str) -> Stage:
    """``name`` as a `Stage`; ValueError naming the allowed values for anything else."""
    try:
        return Stage(name)
    except ValueError:
        allowed = [member.value for member in Stage]
        raise ValueError(f"stage must be one of {allowed}, got {name!r}") from None


StageListener = Callable[[str, float, BaseException | None], None]
MeasureKind = Literal["count", "gauge"]
# (kind, name, value, label): e.g. ("count", "cache_hit", 1, "query"), ("gauge", "bm25_terms", 812, "").
MeasureListener = Callable[[MeasureKind, str, float, str], None]

# Timings of the request in progress (a dict per request), set by `record_stages`.
_current: ContextVar[dict[str, float] | None] = ContextVar("ragdrop_stage_times", default=None)
_listeners: list[StageListener] = []
_measure_listeners: list[MeasureListener] = []


def add_stage_listener(listener: StageListener) -> None:
    """Call ``listener(stage, seconds, error)`` after every stage (metrics, spans)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_stage_listener(listener: StageListener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def add_measure_listener(listener: MeasureListener) -> None:
    """Call ``listener(kind, name, value, label)`` for every ``record_count``/``record_gauge``."""
    if listener not in _measure_listeners:
        _measure_listeners.append(listener)


def remove_measure_listener(listener: MeasureListener) -> None:
    """Stop calling ``listener``."""
    if listener in _measure_listeners:
        _measure_listeners.remove(listener)


def record_count(name: str, value: float = 1.0, label: str = "") -> None:
    """Report ``value`` more of event ``name``.

    Names the metrics know: ``cache_hit``, ``cache_miss``, ``cache_eviction``,
    ``cache_rejected`` (label: the cache, e.g. ``embedding`` or ``query``),
    ``points_upserted``, ``points_deleted``. Labels must come from code, never from user input.
    """
    for listener in list(_measure_listeners):
        listener("count", name, float(value), label)


def record_gauge(name: str, value: float, label: str = "") -> None:
    """Report the current value of ``name`` (``bm25_documents``, ``bm25_terms``)."""
    for listener in list(_measure_listeners):
        listener("gauge", name, float(value), label)


@contextmanager
def stage(name: Stage | str) -> Iterator[None]:
    """Time a block as stage ``name``: a `Stage` (or its value; any other string raises)."""
    # LlamaIndex's instrumentation loads with the first stage, not with this module (the
    # CLI reads `Stage` for `--help`).
    from ragdrop.observability.spans import stage_span

    name = as_stage(name).value
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        with stage_span(name):
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
