"""Settings of the end-to-end pipeline used by the demo, the CLI and the server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ChunkingMode = Literal["fixed", "semantic"]
RetrieverMode = Literal["hybrid", "vector", "bm25"]
FusionMode = Literal["client", "qdrant"]
EmbeddedEngine = Literal["auto", "edge", "local"]


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
    chunking: ChunkingMode = Field(default="fixed", description="Node parser.")
    chunk_size: int | None = Field(
        default=None, gt=0, description="Tokens per chunk; None = the model's window."
    )
    chunk_overlap: int = Field(default=32, ge=0, description="Tokens shared by neighbours.")
    retriever: RetrieverMode = Field(default="hybrid", description="Retrieval mode.")
    fusion: FusionMode = Field(default="client", description="Where hybrid fusion runs.")
    top_k: int = Field(default=5, gt=0, le=1000, description="Passages returned per question.")
    candidates: int = Field(default=30, gt=0, le=1000, description="Candidates per retriever.")
    rerank_model: str | None = Field(
        default=None, description="Cross-encoder path or cached hub id; None = auto-detect."
    )
    rerank: bool = Field(default=True, description="Rerank when a cross-encoder is available.")
    cache: bool = Field(default=True, description="Cache embeddings and query results.")
    ingest_batch_size: int = Field(default=64, gt=0, description="Documents per ingest batch.")

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / f"manifest-{self.collection}.json"
