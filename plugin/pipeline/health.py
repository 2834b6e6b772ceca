"""The readiness checks of a pipeline, built from observability's generic checks.

`RagPipeline.health` runs them; ``ragdrop health`` and the server's ``/health/ready`` call
`RagPipeline.health`, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from ragdrop.observability.health import (
    Check,
    OnceCheck,
    check_collection,
    check_directory_writable,
    check_model_loads,
    check_qdrant_reachable,
)
from ragdrop.pipeline.components import Components
from ragdrop.pipeline.config import PipelineConfig


def readiness_checks(
    config: PipelineConfig,
    components: Callable[[], Components],
    retry_seconds: float = 60.0,
) -> dict[str, Check]:
    """Name -> check: Qdrant reachable, models loadable, collection fits the model, dirs.

    Nothing runs here. The first check to run builds the components; the models are loaded
    by the first readiness probe and never again (a failed load is retried at most every
    ``retry_seconds``). The collection check compares its vector size with the embedding
    model's once the models are loaded.

    Args:
        config: the pipeline's settings (collection, data and cache directories).
        components: returns the pipeline's built components (building them on first call).
        retry_seconds: minimum seconds between two model loads after a failure.
    """
    model_dimension: dict[str, int | None] = {}

    def load_models() -> str:
        parts = components()
        loaded = [check_model_loads(parts.embed_model)]
        for post in parts.postprocessors:
            if callable(getattr(post, "warm_up", None)):
                loaded.append(check_model_loads(post))
        model_dimension["embed"] = getattr(parts.embed_model, "dimension", None)
        return "; ".join(loaded)

    def collection() -> str:
        return check_collection(
            components().client, config.collection, lambda: model_dimension.get("embed")
        )

    checks: dict[str, Check] = {
        "qdrant": lambda: check_qdrant_reachable(components().client),
        "models": OnceCheck(load_models, retry_seconds=retry_seconds),
        "collection": collection,
    }
    if config.cache:
        checks["cache_dir"] = lambda: check_directory_writable(config.cache_dir)
    checks["data_dir"] = lambda: check_directory_writable(config.data_dir)
    return checks
