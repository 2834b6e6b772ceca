"""Embedding models."""

from ragdrop.embeddings.sentence_transformer import (
    DEFAULT_MODEL_NAME,
    ModelNotAvailableError,
    SentenceTransformerEmbedding,
    bundled_minilm_path,
    default_embed_model,
    resolve_model_path,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ModelNotAvailableError",
    "SentenceTransformerEmbedding",
    "bundled_minilm_path",
    "default_embed_model",
    "resolve_model_path",
]
