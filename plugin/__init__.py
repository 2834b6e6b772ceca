"""ragdrop: production-grade retrieval components for LlamaIndex pipelines.

Every component implements LlamaIndex's own contract, so it swaps in with one line.
"""

from typing import TYPE_CHECKING

from ragdrop.core.lazy import lazy_exports

if TYPE_CHECKING:
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

# Where each public name lives: imported on first use (PEP 562), so ``import ragdrop`` and
# ``ragdrop --help`` load neither torch nor LlamaIndex's indices until a component is used.
_EXPORTS: dict[str, str] = {
    "BM25Index": "ragdrop.retrievers",
    "BM25Retriever": "ragdrop.retrievers",
    "BM25Tokenizer": "ragdrop.retrievers",
    "BreakpointRule": "ragdrop.node_parsers",
    "CachedEmbedding": "ragdrop.cache",
    "CachedQdrantVectorStore": "ragdrop.vector_stores",
    "ChunkingStats": "ragdrop.node_parsers",
    "CollectionSettings": "ragdrop.vector_stores",
    "CrossEncoderReranker": "ragdrop.postprocessors",
    "FixedSizeNodeParser": "ragdrop.node_parsers",
    "HealthMonitor": "ragdrop.observability",
    "HybridRetriever": "ragdrop.retrievers",
    "ModelNotAvailableError": "ragdrop.embeddings",
    "PipelineConfig": "ragdrop.pipeline",
    "PseudoRelevanceFeedback": "ragdrop.retrievers",
    "QueryResultCache": "ragdrop.cache",
    "RagAnswer": "ragdrop.pipeline",
    "RagPipeline": "ragdrop.pipeline",
    "RagdropMetrics": "ragdrop.observability",
    "SafeCache": "ragdrop.cache",
    "SemanticNodeParser": "ragdrop.node_parsers",
    "SentenceTransformerEmbedding": "ragdrop.embeddings",
    "SizeUnit": "ragdrop.node_parsers",
    "cache_key": "ragdrop.cache",
    "default_embed_model": "ragdrop.embeddings",
    "find_cross_encoder": "ragdrop.postprocessors",
    "fuse_result_lists": "ragdrop.retrievers",
    "reciprocal_rank_fusion": "ragdrop.retrievers",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
