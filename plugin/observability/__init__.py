"""Stage timings, Prometheus metrics, LlamaIndex spans and health checks."""

from ragdrop.observability.health import (
    CheckResult,
    HealthMonitor,
    HealthReport,
    OnceCheck,
    check_collection,
    check_directory_writable,
    check_qdrant_reachable,
)
from ragdrop.observability.metrics import RagdropMetrics
from ragdrop.observability.sources import IndexStats, MetricsSource
from ragdrop.observability.spans import stage_span
from ragdrop.observability.stages import (
    Stage,
    add_measure_listener,
    add_stage_listener,
    record_count,
    record_gauge,
    record_stages,
    remove_measure_listener,
    remove_stage_listener,
    stage,
)

__all__ = [
    "CheckResult",
    "HealthMonitor",
    "HealthReport",
    "IndexStats",
    "MetricsSource",
    "OnceCheck",
    "RagdropMetrics",
    "Stage",
    "add_measure_listener",
    "add_stage_listener",
    "check_collection",
    "check_directory_writable",
    "check_qdrant_reachable",
    "record_count",
    "record_gauge",
    "record_stages",
    "remove_measure_listener",
    "remove_stage_listener",
    "stage",
    "stage_span",
]
