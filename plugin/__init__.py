"""ragdrop: production-grade retrieval components for LlamaIndex pipelines.

Every component implements LlamaIndex's own contract, so it swaps in with one line.
"""

from ragdrop.cache import CachedEmbedding, QueryResultCache, SafeCache, cache_key
from ragdrop.embeddings import (
    ModelNotAvailableError,
    SentenceTransformerEmbedding,
    default_embed_model,
)
from ragdrop.node_parsers import (
    BreakpointRule,
    ChunkingStats,
    FixedSizeNodeParser,
    SemanticNodeParser,
    SizeUnit,
)
from ragdrop.observability import HealthMonitor, RagdropMetrics
from ragdrop.pipeline import PipelineConfig, RagAnswer, RagPipeline
from ragdrop.postprocessors import CrossEncoderReranker, find_cross_encoder
from ragdrop.retrievers import (
    BM25Index,
    BM25Retriever,
    BM25Tokenizer,
    HybridRetriever,
    PseudoRelevanceFeedback,
    fuse_result_lists,
    reciprocal_rank_fusion,
)
from ragdrop.vector_stores import CachedQdrantVectorStore, CollectionSettings

__version__ = "0.1.0"

__all__ = [
    "BM25Index",
    "BM25Retriever",
    "BM25Tokenizer",
    "BreakpointRule",
    "CachedEmbedding",
    "CachedQdrantVectorStore",
    "ChunkingStats",
    "CollectionSettings",
    "CrossEncoderReranker",
    "FixedSizeNodeParser",
    "HealthMonitor",
    "HybridRetriever",
    "ModelNotAvailableError",
    "PipelineConfig",
    "PseudoRelevanceFeedback",
    "QueryResultCache",
    "RagAnswer",
    "RagPipeline",
    "RagdropMetrics",
    "SafeCache",
    "SemanticNodeParser",
    "SentenceTransformerEmbedding",
    "SizeUnit",
    "cache_key",
    "default_embed_model",
    "find_cross_encoder",
    "fuse_result_lists",
    "reciprocal_rank_fusion",
]
