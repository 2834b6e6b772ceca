"""The named choices that settings offer, defined where the light modules can read them.

`PipelineConfig` and the CLI's ``--help`` need these names without loading the engines they
choose between (Qdrant, LlamaIndex, torch); the modules that implement them re-export them.

Example:
    >>> FUSION_MODES, EMBEDDED_ENGINES
    (('client', 'qdrant'), ('auto', 'edge', 'local'))
"""

from __future__ import annotations

from typing import Literal, get_args

# Which embedded engine serves an on-disk path (`ragdrop.qdrant_edge.embedded_client`).
EmbeddedEngine = Literal["auto", "edge", "local"]
EMBEDDED_ENGINES: tuple[EmbeddedEngine, ...] = get_args(EmbeddedEngine)

# Where the hybrid retriever fuses (`ragdrop.retrievers.HybridRetriever`).
FusionMode = Literal["client", "qdrant"]
FUSION_MODES: tuple[str, ...] = get_args(FusionMode)

# How it fuses (`ragdrop.retrievers.fusion`).
FusionMethod = Literal["zscore", "dbsf", "minmax", "rrf"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)

__all__ = [
    "EMBEDDED_ENGINES",
    "FUSION_METHODS",
    "FUSION_MODES",
    "EmbeddedEngine",
    "FusionMethod",
    "FusionMode",
]
