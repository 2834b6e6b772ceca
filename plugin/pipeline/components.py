"""Builders that pick each component of the pipeline from a `PipelineConfig`.

One function per role, so each component swaps in at exactly one place.
"""

from __future__ import annotations

from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import NodeParser
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.vector_stores.types import BasePydanticVectorStore, MetadataFilters
from ragdrop.embeddings import SentenceTransformerEmbedding
from ragdrop.pipeline.config import PipelineConfig


def build_embed_model(config: PipelineConfig) -> BaseEmbedding:
    """The embedding model for documents and questions (disk-cached when ``config.cache``)."""
    model = SentenceTransformerEmbedding(model_name=config.embed_model)
    if not config.cache:
        return model
    from ragdrop.cache import CachedEmbedding

    return CachedEmbedding(embed_model=model, cache_dir=config.cache_dir)


def build_node_parser(config: PipelineConfig, embed_model: BaseEmbedding) -> NodeParser:
    """Chunking that fits the embedding model's window, metadata included.

    Sizes count the embed model's own tokens (its tokenizer is read lazily, at the first
    parse); a model without a tokenizer (an API model) is measured in tiktoken tokens.
    """
    from ragdrop.node_parsers import FixedSizeNodeParser, SemanticNodeParser

    sizing: dict[str, Any] = {"chunk_size": config.chunk_size, "embed_model": embed_model}
    if not hasattr(type(embed_model), "tokenizer"):
        sizing.update(size_unit="tiktoken", chunk_size=config.chunk_size or 256)
    if config.chunking == "semantic":
        return SemanticNodeParser(**sizing)
    return FixedSizeNodeParser(chunk_overlap=config.chunk_overlap, **sizing)


def build_qdrant_client(config: PipelineConfig) -> Any:
    """A Qdrant client: a server or cluster when a URL is set, else embedded at ``data_dir``.

    Embedded means Qdrant Edge (HNSW, payload indexes) unless ``config.qdrant_engine`` asks
    for qdrant-client's local mode or the directory was written by it.
    """
    if config.qdrant_url:
        from qdrant_client import QdrantClient

        return QdrantClient(url=config.qdrant_url, api_key=config.qdrant_api_key)
    from ragdrop.vector_stores.edge_client import embedded_client

    return embedded_client(config.qdrant_path, config.qdrant_engine)


def build_vector_store(
    config: PipelineConfig, client: Any, embed_model: BaseEmbedding
) -> BasePydanticVectorStore:
    """The vector store over ``client``: query cache when ``config.cache``, and the hybrid
    (dense + sparse) layout when Qdrant itself fuses hybrid results."""
    from ragdrop.vector_stores import CachedQdrantVectorStore

    hybrid: dict[str, Any] = {}
    if config.retriever == "hybrid" and config.fusion == "qdrant":
        from ragdrop.retrievers import bm25_sparse_functions
        from ragdrop.retrievers.hybrid import DEFAULT_RRF_K

        # Sparse term weights from our BM25 tokenizer (Qdrant applies the IDF), fused with
        # the same RRF constant as the client-side mode.
        # Qdrant ranks from 0, the client mode from 1: k + 1 gives the same 1 / (k + rank).
        hybrid = {"enable_hybrid": True, "rrf_k": DEFAULT_RRF_K + 1, **bm25_sparse_functions()}
    return CachedQdrantVectorStore(
        config.collection,
        client=client,
        cache_dir=config.cache_dir if config.cache else None,
        **hybrid,
    )


def build_retriever(
    config: PipelineConfig,
    index: VectorStoreIndex,
    vector_store: BasePydanticVectorStore,
    filters: MetadataFilters | None = None,
) -> BaseRetriever:
    """The first-stage retriever over the ingested collection, restricted by ``filters``.

    Called once at start-up without filters, and again for a query that has filters.
    ``hybrid`` (default): BM25 over the collection's payloads (persisted under
    ``data_dir/bm25/<collection>``, following the store's writes) fused with the vector
    search by RRF, here or inside Qdrant (``fusion="qdrant"``); ``bm25``/``vector``: one side.
    """
    from ragdrop.retrievers import HybridRetriever, store_bm25

    if config.retriever == "vector":
        return index.as_retriever(similarity_top_k=config.candidates, filters=filters)
    if config.retriever == "hybrid" and config.fusion == "qdrant":
        return HybridRetriever(
            fusion="qdrant",
            vector_store=vector_store,
            embed_model=index._embed_model,
            similarity_top_k=config.candidates,
            filters=filters,
        )
    bm25 = store_bm25(vector_store, persist_dir=config.data_dir / "bm25" / config.collection)
    if config.retriever == "bm25":
        view = bm25.with_filters(filters)
        view.similarity_top_k = config.candidates
        return view
    return HybridRetriever(
        bm25, vector_index=index, similarity_top_k=config.candidates, filters=filters
    )


def build_postprocessors(config: PipelineConfig) -> tuple[list[BaseNodePostprocessor], str]:
    """Postprocessors after retrieval, and a line saying what was chosen and why.

    Reranks with a cross-encoder when one is available offline: ``config.rerank_model``,
    else ``RAGDROP_RERANK_MODEL``, else ms-marco-MiniLM-L-6-v2 in the local hub cache.
    A configured model that is missing raises ModelNotAvailableError naming the fix.
    """
    from ragdrop.postprocessors import (
        DEFAULT_RERANK_MODEL,
        RERANK_MODEL_ENV,
        CrossEncoderReranker,
        find_cross_encoder,
    )

    if not config.rerank:
        return [], "reranking: off (rerank=False / --no-rerank)"
    model = find_cross_encoder(config.rerank_model)
    if model is None:
        return [], (
            f"reranking: skipped, no cross-encoder found ({DEFAULT_RERANK_MODEL} is not in "
            "the local Hugging Face cache). To enable it, pass a local cross-encoder "
            f"directory: --rerank-model /path/to/cross-encoder, or set "
            f"{RERANK_MODEL_ENV}=/path/to/cross-encoder"
        )
    reranker = CrossEncoderReranker(
        model=model,
        top_n=config.top_k,
        cache_dir=str(config.cache_dir) if config.cache else None,
    )
    return [reranker], f"reranking: on (model {model})"
