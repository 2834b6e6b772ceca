"""Node postprocessors: steps that run on retrieved nodes before the answer is built."""

from ragdrop.postprocessors.cross_encoder import (
    DEFAULT_RERANK_MODEL,
    RERANK_MODEL_ENV,
    CrossEncoderReranker,
    find_cross_encoder,
)

__all__ = [
    "DEFAULT_RERANK_MODEL",
    "RERANK_MODEL_ENV",
    "CrossEncoderReranker",
    "find_cross_encoder",
]
