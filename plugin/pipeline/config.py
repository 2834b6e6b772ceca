"""Settings of the end-to-end pipeline used by the demo, the CLI and the server."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ragdrop.core.choices import EmbedBackend, EmbeddedEngine, FusionMode
from ragdrop.core.urls import check_cache_url
from ragdrop.core.validation import Int

ChunkingMode = Literal["fixed", "semantic"]
RetrieverMode = Literal["hybrid", "vector", "bm25"]
# Old setting names still accepted, with a DeprecationWarning, mapped to what they really set:
# ``candidates`` was documented as "per retriever" but always set the fused depth.
RENAMED_SETTINGS: dict[str, str] = {"candidates": "fused_candidates"}


class PipelineConfig(BaseModel):
    """Every setting of a `RagPipeline`; defaults are the best pipeline we have."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=Path(".ragdrop"), description="Index, cache and manifest.")
    collection: str = Field(default="ragdrop", min_length=1, description="Qdrant collection.")
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server/cluster URL; None = embedded at data_dir."
    )
    qdrant_api_key: str | None = Field(default=None, description="API key for qdrant_url.")
    qdrant_engine: EmbeddedEngine = Field(
        default="auto",
        description="Embedded engine without a URL: Qdrant Edge, qdrant-client local mode, or "
        "auto (Edge, except for a directory local mode already wrote).",
    )
    embed_model: str = Field(
        default="sentence-transformers/all-MiniLM-L6-v2", description="Embedding model."
    )
    embed_backend: EmbedBackend = Field(
        default="auto",
        description="What runs the embedding model: onnx (exported once under the cache dir), "
        "onnx-int8 (quantized: faster, slightly different vectors), torch, or auto (onnx when "
        "onnxruntime imports, else torch).",
    )
    chunking: ChunkingMode = Field(default="fixed", description="Node parser.")
    chunk_size: Int | None = Field(
        default=None, gt=0, description="Tokens per chunk; None = the model's window."
    )
    chunk_overlap: Int = Field(default=32, ge=0, description="Tokens shared by neighbours.")
    retriever: RetrieverMode = Field(default="hybrid", description="Retrieval mode.")
    fusion: FusionMode = Field(default="client", description="Where hybrid fusion runs.")
    feedback: bool = Field(
        default=True,
        description="Hybrid feedback pass (RM3 + Rocchio when both sides agree; client-side "
        "fusion only): better ranking for more retrieval time (docs/QUALITY.md).",
    )
    top_k: Int = Field(default=5, gt=0, le=1000, description="Passages returned per question.")
    retriever_candidates: Int = Field(
        default=100,  # HybridRetriever's own default
        gt=0,
        le=1000,
        description="Candidates each hybrid side (BM25, vector) reads into the fusion.",
    )
    fused_candidates: Int = Field(
        default=30,
        gt=0,
        le=1000,
        description="Passages retrieved and handed to the reranker (the fused list's "
        "depth); a question with a larger top_k retrieves top_k.",
    )
    rerank_model: str | None = Field(
        default=None, description="Cross-encoder path or cached hub id; None = auto-detect."
    )
    rerank_backend: EmbedBackend = Field(
        default="auto",
        description="What runs the cross-encoder: onnx (exported once under the cache dir, "
        "scores within 1e-4 of torch), onnx-int8 (quantized: faster, reorders close "
        "passages), torch, or auto (onnx on the CPU when onnxruntime imports, else torch).",
    )
    rerank: bool = Field(default=True, description="Rerank when a cross-encoder is available.")
    cache: bool = Field(default=True, description="Cache embeddings and query results.")
    cache_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (redis://[:password@]host[:port][/db] or rediss:// for TLS) of "
        "the query and embedding caches and their write epochs, shared by every process and "
        "machine using it; unset: a folder in the data dir.",
    )
    ingest_batch_size: Int = Field(default=64, gt=0, description="Documents per ingest batch.")

    @model_validator(mode="before")
    @classmethod
    def _renamed_settings(cls, data: object) -> object:
        if not isinstance(data, dict) or not RENAMED_SETTINGS.keys() & data.keys():
            return data
        data = dict(data)
        for old, new in RENAMED_SETTINGS.items():
            if old not in data:
                continue
            if new in data:
                raise ValueError(f"{old} is the old name of {new}: give only {new}")
            warnings.warn(
                f"PipelineConfig({old}=...) is deprecated: use {new}", DeprecationWarning, 2
            )
            data[new] = data.pop(old)
        return data

    @field_validator("cache_url")
    @classmethod
    def _check_cache_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_cache_url(value.get_secret_value())
        return value

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / f"manifest-{self.collection}.json"

    @property
    def bm25_dir(self) -> Path:
        """Where the client-side BM25 index of the collection is persisted."""
        return self.data_dir / "bm25" / self.collection
