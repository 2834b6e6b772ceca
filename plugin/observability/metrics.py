"""Prometheus metrics for ragdrop with an injectable registry and bounded label values."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ragdrop.core.protocols import WriteEvent, WriteKind
from ragdrop.observability import stages
from ragdrop.observability.sources import MetricsSource
from ragdrop.observability.stages import Stage

# One label per stage, derived from the enum so the two cannot drift.
STAGES: tuple[str, ...] = tuple(member.value for member in Stage)
# The same vocabulary (and metric family) as `ragdrop.cache.SafeCache`'s own counter.
# errors, skipped_writes, too_large: a networked cache (Redis) that failed, a write it could
# not make, a value over its size cap.
CACHE_EVENTS: tuple[str, ...] = (
    "hits",
    "misses",
    "evictions",
    "rejected",
    "repairs",
    "errors",
    "skipped_writes",
    "too_large",
)
_CACHE_EVENT_ALIASES = {"hit": "hits", "miss": "misses", "eviction": "evictions"}
OTHER = "other"
# Seconds; stages range from microseconds (cache) to seconds (ingest batches).
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class BoundedLabel:
    """Map label values onto a bounded set: the allowed ones, or the first ``cap`` seen.

    Anything beyond is reported as ``other``, so no input can add time series without bound.

    Args:
        allowed: the values kept as they are; ``None`` keeps the first ``cap`` distinct values.
        cap: how many distinct values are kept when ``allowed`` is ``None``.
    """

    def __init__(self, allowed: Iterable[str] | None = None, cap: int = 32) -> None:
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap!r}")
        self._fixed = allowed is not None
        self._seen: set[str] = set(allowed or ())
        self._cap = cap
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if self._fixed:
            return OTHER
        with self._lock:
            if len(self._seen) < self._cap:
                self._seen.add(value)
                return value
        return OTHER


class RagdropMetrics:
    """Stage latencies, cache events, points written, BM25 size, errors and HTTP requests.

    Args:
        registry: where the metrics are registered (default: prometheus_client's global one).
            Use a fresh ``CollectorRegistry()`` per app or test so instances do not collide.
        namespace: prefix of every metric name.
        stages: stage names kept as labels; any other stage is counted as ``other``.
        max_error_types: distinct exception type names kept before ``other``.

    Example:
        >>> from prometheus_client import CollectorRegistry
        >>> metrics = RagdropMetrics(registry=CollectorRegistry())
        >>> with metrics:  # listens to every ragdrop stage while attached
        ...     pass
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        namespace: str = "ragdrop",
        stages: Iterable[str] = STAGES,
        max_error_types: int = 32,
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        if not isinstance(self.registry, CollectorRegistry):
            raise TypeError(
                f"registry must be a prometheus_client CollectorRegistry or None, got "
                f"{type(registry).__name__}"
            )
        self._stage = BoundedLabel(stages)
        self._component = BoundedLabel(tuple(stages) + ("server", "ingest_job", "health"))
        self._error_type = BoundedLabel(cap=max_error_types)
        self._cache = BoundedLabel(cap=8)
        self._endpoint = BoundedLabel(cap=32)
        ns, reg = namespace, self.registry
        self.stage_seconds = Histogram(
            "stage_seconds",
            "Seconds per pipeline stage.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            namespace=ns,
            registry=reg,
        )
        self.errors = Counter(
            "errors",
            "Errors by component and exception type.",
            ["component", "exception"],
            namespace=ns,
            registry=reg,
        )
        self.cache_events = cache_events_counter(self.registry, namespace)
        self.points_upserted = Counter(
            "points_upserted", "Points written to Qdrant.", namespace=ns, registry=reg
        )
        self.points_deleted = Counter(
            "points_deleted", "Points deleted from Qdrant.", namespace=ns, registry=reg
        )
        self.bm25_documents = Gauge(
            "bm25_documents", "Documents in the BM25 index.", namespace=ns, registry=reg
        )
        self.bm25_terms = Gauge(
            "bm25_terms", "Distinct terms in the BM25 index.", namespace=ns, registry=reg
        )
        self.requests = Counter(
            "http_requests", "HTTP requests by route template and status code.",
            ["endpoint", "method", "status"], namespace=ns, registry=reg,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "http_request_seconds", "Seconds per HTTP request by route template.",
            ["endpoint"], buckets=LATENCY_BUCKETS, namespace=ns, registry=reg,
        )  # fmt: skip
        self.jobs = Counter(
            "ingest_jobs",
            "Ingestion jobs finished by outcome.",
            ["state"],
            namespace=ns,
            registry=reg,
        )
        self._attached = False
        self._watched: list[MetricsSource] = []

    # -- listeners ---------------------------------------------------------------------------
    def attach(self) -> RagdropMetrics:
        """Start listening to ``ragdrop.observability.stages`` (stages, counts, gauges)."""
        stages.add_stage_listener(self.observe_stage)
        stages.add_measure_listener(self.observe_measure)
        self._attached = True
        return self

    def detach(self) -> None:
        """Stop listening; the metrics keep their values."""
        stages.remove_stage_listener(self.observe_stage)
        stages.remove_measure_listener(self.observe_measure)
        self._attached = False

    def __enter__(self) -> RagdropMetrics:
        return self.attach()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.detach()

    def observe_stage(self, name: str, seconds: float, error: BaseException | None) -> None:
        """Stage listener: one latency observation, and an error if the stage raised."""
        self.stage_seconds.labels(stage=self._stage(name)).observe(seconds)
        if error is not None and isinstance(error, Exception):
            self.record_error(name, error)

    def observe_measure(self, kind: str, name: str, value: float, label: str) -> None:
        """Measure listener: route ``record_count``/``record_gauge`` events to the metrics."""
        if kind == "count" and name.startswith("cache_"):
            self.record_cache(label or "default", name.removeprefix("cache_"), value)
        elif kind == "count" and name == "points_upserted":
            self.points_upserted.inc(value)
        elif kind == "count" and name == "points_deleted":
            self.points_deleted.inc(value)
        elif kind == "gauge" and name == "bm25_documents":
            self.bm25_documents.set(value)
        elif kind == "gauge" and name == "bm25_terms":
            self.bm25_terms.set(value)

    def observe_write(self, event: WriteEvent) -> None:
        """Vector store write listener (``CachedQdrantVectorStore.add_write_listener``)."""
        count = len(event.node_ids or event.nodes)
        if event.kind == WriteKind.ADD:
            self.points_upserted.inc(count)
        elif event.kind in (WriteKind.DELETE, WriteKind.DELETE_NODES):
            self.points_deleted.inc(count)

    def watch_pipeline(self, pipeline: MetricsSource) -> None:
        """Follow a pipeline (a `MetricsSource`, e.g. a `RagPipeline`): the points its vector
        store writes and deletes, and its BM25 index size, read at scrape time.

        Idempotent and cheap: it builds nothing; the pipeline keeps the listener across
        rebuilds of its components.
        """
        if any(watched is pipeline for watched in self._watched):
            return
        self._watched.append(pipeline)
        pipeline.add_write_listener(self.observe_write)
        self.bm25_documents.set_function(lambda: float(pipeline.index_stats().bm25_documents or 0))
        self.bm25_terms.set_function(lambda: float(pipeline.index_stats().bm25_terms or 0))

    # -- direct recording --------------------------------------------------------------------
    def record_error(self, component: str, error: BaseException | type[BaseException]) -> None:
        """Count one error of ``component`` by exception type name (never its message)."""
        exc_type = error if isinstance(error, type) else type(error)
        self.errors.labels(
            component=self._component(component), exception=self._error_type(exc_type.__name__)
        ).inc()

    def record_cache(self, cache: str, event: str, value: float = 1.0) -> None:
        """Count cache ``event`` (hits, misses, evictions, rejected) of the cache ``cache``."""
        event = _CACHE_EVENT_ALIASES.get(event, event)
        if event not in CACHE_EVENTS:
            raise ValueError(f"event must be one of {CACHE_EVENTS}, got {event!r}")
        self.cache_events.labels(namespace=self._cache(cache), event=event).inc(value)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request; ``endpoint`` is the route template (``/jobs/{job_id}``), not the URL."""
        endpoint = self._endpoint(endpoint)
        method = method if method in _METHODS else OTHER
        if status in _STATUSES:
            status_label = str(status)
        else:
            status_label = f"{status // 100}xx" if 100 <= status <= 599 else OTHER
        self.requests.labels(endpoint=endpoint, method=method, status=status_label).inc()
        self.request_seconds.labels(endpoint=endpoint).observe(seconds)

    def series_count(self) -> int:
        """Number of time series (samples) currently exported by this instance's registry."""
        return sum(len(metric.samples) for metric in self.registry.collect())


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Codes kept exactly; any other is reported by class ("4xx"), so statuses stay bounded.
_STATUSES = frozenset(
    {200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504}
)


def cache_events_counter(registry: CollectorRegistry, namespace: str = "ragdrop") -> Counter:
    """The one ``<namespace>_cache_events_total{namespace,event}`` family of ``registry``.

    `ragdrop.cache.SafeCache(registry=...)` counts into the same family; it is kept on the
    registry object (not in a module global) so both find it and neither registers it twice.
    """
    attribute = f"_{namespace}_cache_events"
    counter = getattr(registry, attribute, None)
    if counter is None:
        counter = Counter(
            f"{namespace}_cache_events_total",
            "Cache lookups and removals by namespace and event.",
            ["namespace", "event"],
            registry=registry,
        )
        setattr(registry, attribute, counter)
    return counter
