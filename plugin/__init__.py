"""ragdrop: production-grade retrieval components for LlamaIndex pipelines."""

from ragdrop.embeddings import (
    ModelNotAvailableError,
    SentenceTransformerEmbedding,
    default_embed_model,
)

__version__ = "0.1.0"

__all__ = [
    "ModelNotAvailableError",
    "SentenceTransformerEmbedding",
    "default_embed_model",
]
