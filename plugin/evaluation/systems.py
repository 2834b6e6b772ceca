"""Retrieval systems the evaluation compares, as pluggable factories over one shared context.

A system is a name, a label and a ``build(context) -> Searcher`` function. Every system sees
the same nodes, the same document embeddings and the same query embeddings (passed in the
``QueryBundle``), so differences come from retrieval alone. A factory raises
`SystemUnavailable` when its component or model is missing; the run reports it as skipped.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from ragdrop.embeddings import ModelNotAvailableError
from ragdrop.postprocessors import CrossEncoderReranker, find_cross_encoder
from ragdrop.retrievers import BM25Retriever, HybridRetriever, bm25_sparse_functions
from ragdrop.retrievers.bm25.index import RANK_BM25, BM25Index
from ragdrop.retrievers.hybrid import DEFAULT_RRF_K
from ragdrop.vector_stores import CachedQdrantVectorStore

Searcher = Callable[[QueryBundle], list[NodeWithScore]]
T = TypeVar("T")


class SystemUnavailable(RuntimeError):
    """A system cannot run here (component not installed, model not available offline)."""


@dataclass
class EvalContext:
    """What every system is built from; heavy shared parts are created once, on demand.

    Args:
        nodes: the indexed units (documents or chunks) with ``embedding`` set and
            ``metadata["beir_doc_id"]``.
        embed_model: the model that embedded ``nodes`` (queries arrive pre-embedded).
        top_k: results each system returns.
        candidates: depth each side of a hybrid retrieves before fusion.
        rerank_model: cross-encoder path or cached hub id; None = auto-detect.
        rerank_depth: candidates the cross-encoder rescored.
        workdir: scratch space for systems that need files.
    """

    nodes: list[TextNode]
    embed_model: BaseEmbedding
    top_k: int = 100
    candidates: int = 100
    rerank_model: str | None = None
    rerank_depth: int = 30
    workdir: Path | None = None
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def dimension(self) -> int:
        return len(self.nodes[0].get_embedding()) if self.nodes else 0

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The object called ``name``, created by ``make()`` the first time it is asked for."""
        with self._lock:
            if name not in self._shared:
                self._shared[name] = make()
            return cast(T, self._shared[name])

    def qdrant_client(self) -> QdrantClient:
        """One Qdrant local-mode client (in memory) shared by every Qdrant-backed system."""
        return self.shared("qdrant_client", lambda: QdrantClient(location=":memory:"))

    def llama_qdrant_index(self) -> VectorStoreIndex:
        """A LlamaIndex `VectorStoreIndex` over LlamaIndex's `QdrantVectorStore` with our vectors."""

        def make() -> VectorStoreIndex:
            store = QdrantVectorStore(
                collection_name="eval_llamaindex", client=self.qdrant_client(), batch_size=256
            )
            with warnings.catch_warnings():
                # Its default doc_id payload index is a no-op in local mode, which it says.
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                store.add(list(self.nodes))
            return VectorStoreIndex.from_vector_store(store, embed_model=self.embed_model)

        return self.shared("llama_qdrant_index", make)

    def close(self) -> None:
        client = self._shared.get("qdrant_client")
        if client is not None:
            client.close()


@dataclass(frozen=True)
class EvalSystem:
    """A named retrieval system: ``build(context)`` returns a function from query to nodes."""

    name: str
    label: str
    build: Callable[[EvalContext], Searcher]
    baseline: bool = False


def retriever_searcher(retriever: BaseRetriever) -> Searcher:
    """Search through a LlamaIndex retriever's public ``retrieve``."""
    return retriever.retrieve


# --- LlamaIndex baselines -------------------------------------------------------------------


def llamaindex_bm25(context: EvalContext) -> BaseRetriever:
    """LlamaIndex's `BM25Retriever` (bm25s, English stemmer and stopwords) over the nodes."""
    # An optional baseline (the dev extra): imported only when this system runs.
    try:
        from llama_index.retrievers.bm25 import BM25Retriever as LlamaIndexBM25Retriever
    except ImportError as exc:
        raise SystemUnavailable("pip install llama-index-retrievers-bm25") from exc
    return LlamaIndexBM25Retriever.from_defaults(
        nodes=list(context.nodes), similarity_top_k=context.top_k
    )


def build_llamaindex_bm25(context: EvalContext) -> Searcher:
    return retriever_searcher(llamaindex_bm25(context))


def build_dense(context: EvalContext) -> Searcher:
    """Dense retrieval: LlamaIndex's vector retriever over a Qdrant local-mode collection."""
    index = context.llama_qdrant_index()
    return retriever_searcher(index.as_retriever(similarity_top_k=context.top_k))


def build_llamaindex_fusion(context: EvalContext) -> Searcher:
    """`QueryFusionRetriever` (RRF, one query) over `BM25Retriever` + the vector retriever."""
    bm25 = context.shared("llamaindex_bm25", lambda: llamaindex_bm25(context))
    vector = context.llama_qdrant_index().as_retriever(similarity_top_k=context.top_k)
    fusion = QueryFusionRetriever(
        [bm25, vector],
        # num_queries=1 never calls the LLM; MockLLM keeps Settings.llm (OpenAI) out of it.
        llm=MockLLM(),
        mode=FUSION_MODES.RECIPROCAL_RANK,
        num_queries=1,
        similarity_top_k=context.top_k,
        use_async=False,
    )
    return retriever_searcher(fusion)


# --- ragdrop ---------------------------------------------------------------------------------


def ragdrop_bm25(context: EvalContext, **index: Any) -> BM25Retriever:
    """Our `BM25Retriever` (an inverted index): its defaults, or `BM25Index` ``index`` settings."""
    return context.shared(
        "ragdrop_bm25" + json.dumps(index, sort_keys=True),
        lambda: BM25Retriever(
            nodes=list(context.nodes), index=BM25Index(**index), similarity_top_k=context.top_k
        ),
    )


def ragdrop_store(context: EvalContext) -> CachedQdrantVectorStore:
    """Our `CachedQdrantVectorStore` holding dense vectors and BM25 sparse vectors."""

    def make() -> CachedQdrantVectorStore:
        tokenizer = ragdrop_bm25(context).index.tokenizer
        texts = [node.get_content() for node in context.nodes]
        lengths = [len(terms) for terms in tokenizer.tokenize_many(texts)]
        avg_doc_len = max(sum(lengths) / max(len(lengths), 1), 1.0)
        store = CachedQdrantVectorStore(
            "eval_ragdrop",
            client=context.qdrant_client(),
            enable_hybrid=True,
            # The store fuses inside Qdrant with DBSF (its default), the server-side
            # counterpart of the retriever's z-score fusion; rrf_k serves hybrid_fusion="rrf".
            rrf_k=int(DEFAULT_RRF_K),
            **bm25_sparse_functions(tokenizer, avg_doc_len=avg_doc_len),
        )
        store.add(list(context.nodes))
        return store

    return context.shared("ragdrop_store", make)


# The default before issue 15 (RRF k=10, no feedback pass, rank_bm25's Okapi BM25), kept as
# a row so every run measures the current default's quality and latency against it on the
# same store.
PREVIOUS_DEFAULT: dict[str, Any] = {"fusion_method": "rrf", "rrf_k": 10, "feedback": None}
PREVIOUS_BM25: dict[str, Any] = dict(RANK_BM25)


def ragdrop_hybrid(
    context: EvalContext,
    fusion: str = "client",
    bm25: dict[str, Any] | None = None,
    **settings: Any,
) -> HybridRetriever:
    """Our `HybridRetriever` (its defaults, or ``settings``) over our BM25 (its defaults, or
    the `BM25Index` settings ``bm25``) and our Qdrant store."""
    store = ragdrop_store(context)
    common: dict[str, Any] = {
        "similarity_top_k": context.top_k,
        "bm25_candidates": context.candidates,
        "vector_candidates": context.candidates,
        **settings,
    }
    if fusion == "qdrant":
        return HybridRetriever(
            fusion="qdrant", vector_store=store, embed_model=context.embed_model, **common
        )
    index = context.shared(
        "ragdrop_index",
        lambda: VectorStoreIndex.from_vector_store(store, embed_model=context.embed_model),
    )
    return HybridRetriever(
        bm25=ragdrop_bm25(context, **(bm25 or {})),
        vector_index=index,
        embed_model=context.embed_model,
        **common,
    )


def build_ragdrop_bm25(context: EvalContext) -> Searcher:
    return retriever_searcher(ragdrop_bm25(context))


def build_hybrid(context: EvalContext) -> Searcher:
    return retriever_searcher(ragdrop_hybrid(context, "client"))


def build_hybrid_previous(context: EvalContext) -> Searcher:
    return retriever_searcher(
        ragdrop_hybrid(context, "client", bm25=PREVIOUS_BM25, **PREVIOUS_DEFAULT)
    )


def build_hybrid_qdrant(context: EvalContext) -> Searcher:
    return retriever_searcher(ragdrop_hybrid(context, "qdrant"))


def build_hybrid_in_process(context: EvalContext) -> Searcher:
    """`HybridRetriever.from_nodes`: what a user gets out of the box, no vector database."""
    retriever = HybridRetriever.from_nodes(
        list(context.nodes),
        embed_model=context.embed_model,
        similarity_top_k=context.top_k,
        bm25_candidates=context.candidates,
        vector_candidates=context.candidates,
    )
    return retriever_searcher(retriever)


def build_hybrid_rerank(context: EvalContext) -> Searcher:
    """Client-side hybrid, then a cross-encoder over its first ``rerank_depth`` candidates.

    The reranked head is followed by the rest of the hybrid ranking, so Recall@100 still
    measures the first stage.
    """
    try:
        model = find_cross_encoder(context.rerank_model)
    except ModelNotAvailableError as exc:
        raise SystemUnavailable(str(exc)) from exc
    if model is None:
        raise SystemUnavailable(
            "no cross-encoder available offline; pass --rerank-model DIR "
            "(e.g. a local copy of cross-encoder/ms-marco-MiniLM-L-6-v2)"
        )
    hybrid = ragdrop_hybrid(context, "client")
    reranker = CrossEncoderReranker(model=model, top_n=context.rerank_depth)
    depth = context.rerank_depth

    def search(query: QueryBundle) -> list[NodeWithScore]:
        candidates = hybrid.retrieve(query)
        head = reranker.postprocess_nodes(candidates[:depth], query_bundle=query)
        return head + candidates[depth:]

    return search


BASELINE_SYSTEMS: tuple[EvalSystem, ...] = (
    EvalSystem("llamaindex_bm25", "LlamaIndex BM25Retriever", build_llamaindex_bm25, True),
    EvalSystem("dense", "Dense (MiniLM, Qdrant)", build_dense, True),
    EvalSystem(
        "llamaindex_fusion",
        "LlamaIndex QueryFusionRetriever (RRF)",
        build_llamaindex_fusion,
        True,
    ),
)


RAGDROP_SYSTEMS: tuple[EvalSystem, ...] = (
    EvalSystem("bm25", "ragdrop BM25Retriever", build_ragdrop_bm25),
    EvalSystem("hybrid", "ragdrop Hybrid (default: z-score fusion + feedback)", build_hybrid),
    EvalSystem(
        "hybrid_previous", "ragdrop Hybrid (previous default: RRF k=10)", build_hybrid_previous
    ),
    EvalSystem("hybrid_qdrant", "ragdrop Hybrid (Qdrant DBSF, one call)", build_hybrid_qdrant),
    EvalSystem("hybrid_in_process", "ragdrop Hybrid (in-process vectors)", build_hybrid_in_process),
    EvalSystem("hybrid_rerank", "ragdrop Hybrid + cross-encoder", build_hybrid_rerank),
)


def default_systems() -> list[EvalSystem]:
    """Every system the evaluation knows, baselines first."""
    return [*BASELINE_SYSTEMS, *RAGDROP_SYSTEMS]
