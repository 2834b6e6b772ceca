"""Stage timings, Prometheus metrics, LlamaIndex spans and health checks."""

from typing import TYPE_CHECKING

from ragdrop.core.lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (`ragdrop.core.lazy`), so the CLI's `--help` loads none of it.
_EXPORTS: dict[str, str] = {
    "CheckResult": "ragdrop.observability.health",
    "HealthMonitor": "ragdrop.observability.health",
    "HealthReport": "ragdrop.observability.health",
    "IndexStats": "ragdrop.observability.sources",
    "MetricsSource": "ragdrop.observability.sources",
    "OnceCheck": "ragdrop.observability.health",
    "RagdropMetrics": "ragdrop.observability.metrics",
    "Stage": "ragdrop.observability.stages",
    "add_measure_listener": "ragdrop.observability.stages",
    "add_stage_listener": "ragdrop.observability.stages",
    "check_collection": "ragdrop.observability.health",
    "check_directory_writable": "ragdrop.observability.health",
    "check_qdrant_reachable": "ragdrop.observability.health",
    "record_count": "ragdrop.observability.stages",
    "record_gauge": "ragdrop.observability.stages",
    "record_stages": "ragdrop.observability.stages",
    "remove_measure_listener": "ragdrop.observability.stages",
    "remove_stage_listener": "ragdrop.observability.stages",
    "stage": "ragdrop.observability.stages",
    "stage_span": "ragdrop.observability.spans",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
