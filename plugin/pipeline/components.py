"""Builders that pick each component of the pipeline from a `PipelineConfig`.

One function per role, so each component swaps in at exactly one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import NodeParser
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.vector_stores.types import BasePydanticVectorStore, MetadataFilters
from qdrant_client import QdrantClient
from qdrant_client.client_base import QdrantBase

from ragdrop.cache import CachedEmbedding
from ragdrop.core.files import private_dir
from ragdrop.core.locks import DataDirLock
from ragdrop.embeddings import SentenceTransformerEmbedding
from ragdrop.embeddings.backends import ONNX_DIR_ENV
from ragdrop.node_parsers import FixedSizeNodeParser, SemanticNodeParser
from ragdrop.pipeline.collection_switch import recover_collection
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.restore import recover_data_dir
from ragdrop.postprocessors import (
    DEFAULT_RERANK_MODEL,
    RERANK_MODEL_ENV,
    CrossEncoderReranker,
    find_cross_encoder,
)
from ragdrop.retrievers import HybridRetriever, bm25_sparse_functions, store_bm25
from ragdrop.retrievers.hybrid import DEFAULT_FEEDBACK, DEFAULT_RRF_K
from ragdrop.vector_stores import CachedQdrantVectorStore, embedded_client


@dataclass
class Components:
    """The built parts of a pipeline."""

    embed_model: BaseEmbedding
    node_parser: NodeParser
    client: QdrantBase  # a QdrantClient, or the embedded Qdrant Edge client
    vector_store: BasePydanticVectorStore
    index: VectorStoreIndex
    retriever: BaseRetriever
    postprocessors: list[BaseNodePostprocessor]
    rerank_status: str
    # Held while the embedded index is open (None with a Qdrant server): one writer per
    # data dir (ragdrop.core.locks).
    lock: DataDirLock | None = None

    def close(self) -> None:
        """Close the Qdrant client, then give the data dir back."""
        try:
            self.client.close()
        finally:
            if self.lock is not None:
                self.lock.release()


def build_components(config: PipelineConfig, lock: DataDirLock | None = None) -> Components:
    """Every part of the pipeline (the models are loaded lazily, at first use).

    An embedded index is opened under the data dir's writer lock: a second process raises
    `DataDirBusyError` naming the first instead of writing beside it. ``lock``: the data dir's
    lock when the caller already holds it (reopening after a rebuild's switch); it is
    released if the build fails.
    """
    if lock is None and not config.qdrant_url:
        lock = DataDirLock(private_dir(config.data_dir, "data dir")).acquire()
    try:
        if lock is not None:
            recover_data_dir(config)  # finish or undo a restore a kill interrupted
        embed_model = build_embed_model(config)
        node_parser = build_node_parser(config, embed_model)
        client = build_qdrant_client(config)
        try:
            if config.qdrant_url:
                recover_collection(client, config)  # finish or undo an interrupted switch
            vector_store = build_vector_store(config, client, embed_model)
            index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
            retriever = build_retriever(config, index, vector_store, embed_model)
            postprocessors, rerank_status = build_postprocessors(config)
        except BaseException:
            client.close()
            raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return Components(
        embed_model,
        node_parser,
        client,
        vector_store,
        index,
        retriever,
        postprocessors,
        rerank_status,
        lock,
    )


def build_embed_model(config: PipelineConfig) -> BaseEmbedding:
    """The embedding model for documents and questions (disk-cached when ``config.cache``)."""
    # ONNX exports live beside the other caches, unless RAGDROP_ONNX_DIR names one folder for
    # every data dir (an export is ~90 MB and ~10 s of work per model).
    shared = os.environ.get(ONNX_DIR_ENV, "").strip()
    model = SentenceTransformerEmbedding(
        model_name=config.embed_model,
        backend=config.embed_backend,
        onnx_dir=shared or config.cache_dir / "onnx",
    )
    if not config.cache:
        return model
    return CachedEmbedding(embed_model=model, **cache_place(config))


def cache_place(config: PipelineConfig) -> dict[str, Any]:
    """Where the query and embedding caches live: ``cache_url`` (Redis) or ``cache_dir``."""
    if config.cache_url is not None:
        return {"cache_url": config.cache_url}
    return {"cache_dir": config.cache_dir}


def build_node_parser(config: PipelineConfig, embed_model: BaseEmbedding) -> NodeParser:
    """Chunking that fits the embedding model's window, metadata included.

    Sizes count the embed model's own tokens (its tokenizer is read lazily, at the first
    parse); a model without a tokenizer (an API model) is measured in tiktoken tokens.
    """
    sizing: dict[str, Any] = {"chunk_size": config.chunk_size, "embed_model": embed_model}
    if not hasattr(type(embed_model), "tokenizer"):
        sizing.update(size_unit="tiktoken", chunk_size=config.chunk_size or 256)
    if config.chunking == "semantic":
        return SemanticNodeParser(**sizing)
    return FixedSizeNodeParser(chunk_overlap=config.chunk_overlap, **sizing)


def build_qdrant_client(config: PipelineConfig) -> QdrantBase:
    """A Qdrant client: a server or cluster when a URL is set, else embedded at ``data_dir``.

    Embedded means Qdrant Edge (HNSW, payload indexes) unless ``config.qdrant_engine`` asks
    for qdrant-client's local mode or the directory was written by it.
    """
    if config.qdrant_url:
        return QdrantClient(url=config.qdrant_url, api_key=config.qdrant_api_key)
    return embedded_client(config.qdrant_path, config.qdrant_engine)


def build_vector_store(
    config: PipelineConfig, client: QdrantBase, embed_model: BaseEmbedding
) -> BasePydanticVectorStore:
    """The vector store over ``client``: query cache when ``config.cache``, and the hybrid
    (dense + sparse) layout when Qdrant itself fuses hybrid results."""
    hybrid: dict[str, Any] = {}
    if config.retriever == "hybrid" and config.fusion == "qdrant":
        # Sparse term weights from our BM25 tokenizer (Qdrant applies the IDF), fused by
        # Qdrant's DBSF: the server-side counterpart of the client mode's z-score fusion
        # (HybridRetriever's default). rrf_k serves hybrid_fusion="rrf": Qdrant ranks from
        # 0, the client mode from 1, so k + 1 gives the same 1 / (k + rank).
        hybrid = {"enable_hybrid": True, "rrf_k": DEFAULT_RRF_K + 1, **bm25_sparse_functions()}
    return CachedQdrantVectorStore(
        config.collection,
        client=client,
        **(cache_place(config) if config.cache else {}),
        **hybrid,
    )


def build_retriever(
    config: PipelineConfig,
    index: VectorStoreIndex,
    vector_store: BasePydanticVectorStore,
    embed_model: BaseEmbedding,
    filters: MetadataFilters | None = None,
    depth: int | None = None,
) -> BaseRetriever:
    """The first-stage retriever over the ingested collection, restricted by ``filters``.

    Called once at start-up, and again for a query that has filters or asks for more
    passages than ``config.fused_candidates``.
    ``hybrid`` (default): BM25 over the collection's payloads (persisted under
    ``data_dir/bm25/<collection>``, following the store's writes) fused with the vector
    search (HybridRetriever's default fusion and feedback pass), here or inside Qdrant
    (``fusion="qdrant"``: DBSF, one call); ``bm25``/``vector``: one side.

    Args:
        depth: passages returned (default ``config.fused_candidates``); each hybrid side
            reads ``config.retriever_candidates``, or ``depth`` when that is larger.
    """
    depth = config.fused_candidates if depth is None else depth
    per_side = max(config.retriever_candidates, depth)
    if config.retriever == "vector":
        return index.as_retriever(similarity_top_k=depth, filters=filters)
    if config.retriever == "hybrid" and config.fusion == "qdrant":
        return HybridRetriever(
            fusion="qdrant",
            vector_store=vector_store,
            embed_model=embed_model,
            similarity_top_k=depth,
            bm25_candidates=per_side,
            vector_candidates=per_side,
            filters=filters,
        )
    bm25 = store_bm25(vector_store, persist_dir=config.bm25_dir)
    if config.retriever == "bm25":
        return bm25.with_filters(filters, similarity_top_k=depth)
    return HybridRetriever(
        bm25,
        vector_index=index,
        # Given, the vector side is searched for point ids only and only the fused top
        # results are read back from Qdrant (fusion_plans.point_rrf).
        embed_model=embed_model,
        similarity_top_k=depth,
        bm25_candidates=per_side,
        vector_candidates=per_side,
        filters=filters,
        feedback=DEFAULT_FEEDBACK if config.feedback else None,
    )


def build_postprocessors(config: PipelineConfig) -> tuple[list[BaseNodePostprocessor], str]:
    """Postprocessors after retrieval, and a line saying what was chosen and why.

    Reranks with a cross-encoder when one is available offline: ``config.rerank_model``,
    else ``RAGDROP_RERANK_MODEL``, else ms-marco-MiniLM-L-6-v2 in the local hub cache.
    A configured model that is missing raises ModelNotAvailableError naming the fix.
    """
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
        # Every retrieved passage is scored whatever top_n is, so the reranker returns them
        # all and each question keeps its own top_k: one shared reranker serves concurrent
        # questions of different sizes without being mutated.
        top_n=None,
        cache_dir=str(config.cache_dir) if config.cache else None,
        backend=config.rerank_backend,
        onnx_dir=os.environ.get(ONNX_DIR_ENV, "").strip() or str(config.cache_dir / "onnx"),
    )
    return [reranker], f"reranking: on (model {model})"
