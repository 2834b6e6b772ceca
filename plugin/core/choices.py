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

# What runs the embedding model (`ragdrop.embeddings.SentenceTransformerEmbedding`): "auto"
# is ONNX Runtime when it imports, else torch; "onnx-int8" is opt-in (outputs differ).
EmbedBackend = Literal["auto", "onnx", "onnx-int8", "torch"]
EMBED_BACKENDS: tuple[str, ...] = get_args(EmbedBackend)

# How it fuses (`ragdrop.retrievers.fusion`).
FusionMethod = Literal["zscore", "dbsf", "minmax", "rrf"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)

__all__ = [
    "EMBEDDED_ENGINES",
    "EMBED_BACKENDS",
    "FUSION_METHODS",
    "FUSION_MODES",
    "EmbedBackend",
    "EmbeddedEngine",
    "FusionMethod",
    "FusionMode",
]
