"""BM25 + vector retrieval run concurrently, fused, and refined by a feedback pass.

Two fusion modes:

* ``fusion="client"`` (default): BM25 from our in-process `BM25Index` (over the live corpus
  statistics) and the vector retriever run at the same time; the two ranked lists are fused
  here (`fuse_result_lists`: per-query z-scores by default, or RRF), which records each
  node's rank and score per side in ``node.metadata["fusion"]``. Then, when both sides
  agree on the best documents, the pseudo-relevance feedback pass (`feedback`: RM3 on BM25,
  Rocchio on the query vector) searches both sides again and fuses the new lists.
* ``fusion="qdrant"``: both sides run inside Qdrant (scale-out): BM25 is a sparse vector
  (`BM25SparseEncoder`) in the same collection, and dense and sparse prefetches are fused
  by Qdrant's Query API (DBSF, or RRF; how its rankings differ:
  `ragdrop.retrievers.fusion_plans`), in one call without the feedback pass. Use
  `bm25_sparse_functions` as the store's ``sparse_doc_fn``/``sparse_query_fn`` so both
  modes share one tokenizer.

The defaults were chosen by leave-one-dataset-out over six collections against LlamaIndex's
`QueryFusionRetriever` (``benchmarks/select_default.py``; the table is in
``docs/QUALITY.md``), never per collection.

How each mode runs lives in `fusion_plans` (one plan per mode, chosen here once at
construction) and `plans` (the sync and async drivers).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.simple import SimpleVectorStore
from llama_index.core.vector_stores.types import BasePydanticVectorStore, MetadataFilters
from llama_index.vector_stores.qdrant import QdrantVectorStore

from ragdrop.core import validation as check
from ragdrop.core.copying import deep_copy_object
from ragdrop.core.protocols import QdrantBackedStore
from ragdrop.retrievers import fusion_plans as fp
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.dense import ArrayVectorRetriever
from ragdrop.retrievers.feedback import PseudoRelevanceFeedback
from ragdrop.retrievers.fusion import FUSION_METHODS, FUSION_MODES
from ragdrop.retrievers.plans import ClientCall, Plan, run_async, run_sync
from ragdrop.retrievers.result_cache import FusedResultCache
from ragdrop.retrievers.store_reader import iter_store_nodes
from ragdrop.retrievers.store_sync import store_bm25
from ragdrop.vector_stores.calls import client_scope
from ragdrop.vector_stores.points import SparseEncoder, point_id_for
from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore

# Equal weights and 100 candidates per side (a document that only one side ranks well can
# still win); RRF k=10 serves fusion_method="rrf". The fusion method and the feedback pass
# are what leave-one-dataset-out selected (benchmarks/select_default.py, docs/QUALITY.md).
DEFAULT_WEIGHTS = (1.0, 1.0)
DEFAULT_CANDIDATES = 100
DEFAULT_RRF_K = 10
DEFAULT_FUSION_METHOD = "zscore"
DEFAULT_FEEDBACK: PseudoRelevanceFeedback | None = PseudoRelevanceFeedback()


@runtime_checkable
class FilterableRetriever(Protocol):
    """A retriever that gives a view of itself applying metadata filters."""

    def with_filters(self, filters: MetadataFilters | None) -> BaseRetriever: ...


class HybridRetriever(BaseRetriever):
    """BM25 and a vector retriever queried concurrently, fused, refined by feedback.

    Args:
        bm25: the keyword side (`BM25Retriever`); None in ``fusion="qdrant"`` mode.
        vector_retriever: any LlamaIndex retriever (or pass ``vector_index``).
        vector_index: a ``VectorStoreIndex``; its retriever is built per filter set.
        similarity_top_k: fused results returned.
        bm25_candidates: BM25 candidates read into the fusion.
        vector_candidates: vector candidates read into the fusion.
        rrf_k: reciprocal rank fusion constant (``fusion_method="rrf"``).
        weights: weights of (bm25, vector) in the fusion; 0 switches a side off.
        fusion_method: how the two lists are combined, one of `FUSION_METHODS`
            (``"zscore"``: per-query standardised scores, summed; see
            `ragdrop.retrievers.fusion`). In ``fusion="qdrant"`` mode ``"zscore"`` and
            ``"dbsf"`` run Qdrant's DBSF and ``"rrf"`` its RRF.
        feedback: the pseudo-relevance feedback pass (`PseudoRelevanceFeedback`: RM3 on
            BM25 and Rocchio on the query vector from the first pass's best documents);
            None switches it off. Client-side fusion only: ``fusion="qdrant"`` answers in
            one Query API call and leaves the default feedback out.
        filters: metadata filters applied to both sides (see also `with_filters`).
        fusion: ``"client"`` or ``"qdrant"`` (see the module docstring for the differences).
        vector_store: the Qdrant store queried in ``"qdrant"`` mode.
        embed_model: embeds queries when the vector side is queried directly (``"qdrant"``
            mode, and a Qdrant-backed ``vector_index`` searched for point ids only; without
            it such a query needs ``QueryBundle.embedding`` or goes through the index's own
            retriever).
        sparse_query_fn: the sparse query encoder of a LlamaIndex ``QdrantVectorStore`` in
            ``"qdrant"`` mode (default: the one the store was built with).
        cache_results: cache the fused results (after the feedback pass) in the query cache
            of a ragdrop store with ``cache_dir`` searched for point ids (client fusion over
            its ``vector_index``): a repeated question skips embedding and both searches;
            any write starts a new epoch (`ragdrop.retrievers.result_cache`).

    Example:
        >>> from llama_index.core.embeddings import MockEmbedding
        >>> from llama_index.core.schema import TextNode
        >>> texts = ("bm25 ranks words", "dense vectors", "qdrant stores vectors")
        >>> nodes = [TextNode(text=t, id_=t[:3]) for t in texts]
        >>> retriever = HybridRetriever.from_nodes(nodes, embed_model=MockEmbedding(embed_dim=4))
        >>> hit = retriever.retrieve("what is bm25")[0]
        >>> hit.node.node_id, sorted(hit.node.metadata["fusion"]["sources"])
        ('bm2', ['bm25', 'vector'])
    """

    def __init__(
        self,
        bm25: BM25Retriever | None = None,
        vector_retriever: BaseRetriever | None = None,
        *,
        vector_index: VectorStoreIndex | None = None,
        similarity_top_k: int = 10,
        bm25_candidates: int = DEFAULT_CANDIDATES,
        vector_candidates: int = DEFAULT_CANDIDATES,
        rrf_k: float = DEFAULT_RRF_K,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        fusion_method: str = DEFAULT_FUSION_METHOD,
        feedback: PseudoRelevanceFeedback | None = DEFAULT_FEEDBACK,
        filters: MetadataFilters | None = None,
        fusion: str = "client",
        vector_store: BasePydanticVectorStore | None = None,
        embed_model: BaseEmbedding | None = None,
        sparse_query_fn: SparseEncoder | None = None,
        cache_results: bool = True,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        check.choice("fusion", fusion, FUSION_MODES)
        if not isinstance(cache_results, bool):
            raise TypeError(f"cache_results must be True or False, got {cache_results!r}")
        self.cache_results = cache_results
        self.fusion_method = check.choice("fusion_method", fusion_method, FUSION_METHODS)
        check.instance("feedback", feedback, PseudoRelevanceFeedback, allow_none=True)
        if fusion == "qdrant" and feedback is not DEFAULT_FEEDBACK and feedback is not None:
            raise ValueError(
                "feedback= runs on client-side fusion only (fusion='qdrant' is one Query API "
                "call); use fusion='client' or feedback=None"
            )
        self.feedback = None if fusion == "qdrant" else feedback
        self.similarity_top_k = check.positive_int("similarity_top_k", similarity_top_k)
        self.bm25_candidates = check.positive_int("bm25_candidates", bm25_candidates)
        self.vector_candidates = check.positive_int("vector_candidates", vector_candidates)
        self.rrf_k = check.finite_number("rrf_k", rrf_k, minimum=0)
        if isinstance(weights, str | bytes) or len(weights) != 2:
            raise ValueError(f"weights must be two numbers (bm25, vector), got {weights!r}")
        self.weights = (
            check.finite_number("weights", weights[0], minimum=0),
            check.finite_number("weights", weights[1], minimum=0),
        )
        self.filters = check.instance("filters", filters, MetadataFilters, allow_none=True)
        self.bm25 = check.instance("bm25", bm25, BM25Retriever, allow_none=True)
        self.vector_retriever = vector_retriever
        self.vector_index = vector_index
        self.fusion = fusion
        self.vector_store = vector_store
        self.embed_model = embed_model
        self._mode, self._mode_args = self._choose_plan(sparse_query_fn)
        store = self._mode_args[0] if self._mode is fp.point_rrf else None
        self._results = (
            FusedResultCache(store) if isinstance(store, CachedQdrantVectorStore) else None
        )
        self.overlap = self._vector_side_waits()
        # node id -> Qdrant point id (a UUID5 for non-UUID ids: ~µs each, so memoised).
        self._point_ids: dict[str, str] = {}
        # collection -> dense vector name (a get_collection per query costs ms).
        self._dense_names: dict[str, str | None] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> HybridRetriever:
        """A retriever with its own settings over the same retrievers, index, store and
        embedding (connections and indexes that follow the store), with its own pool."""
        shared = ("bm25", "vector_retriever", "vector_index", "vector_store", "embed_model")
        return deep_copy_object(
            self,
            memo,
            share=(*shared, "_mode", "_mode_args", "_results"),
            fresh={"_pool": lambda: None, "_pool_lock": threading.Lock},
        )

    def _choose_plan(
        self, sparse_query_fn: SparseEncoder | None
    ) -> tuple[Callable[..., Plan], tuple[object, ...]]:
        """The fusion plan of this retriever's mode, checked once (see `fusion_plans`)."""
        store = self.vector_store
        if self.fusion == "qdrant":
            if store is None or self.embed_model is None:
                raise ValueError("fusion='qdrant' needs vector_store= and embed_model=")
            if self.fusion_method == "minmax":
                raise ValueError(
                    "fusion_method='minmax' has no Qdrant Query API equivalent; use "
                    "'zscore' (Qdrant's DBSF), 'rrf', or fusion='client'"
                )
            if self.fusion_method != "rrf" and self.weights != (1.0, 1.0):
                raise ValueError(
                    f"weights={self.weights!r}: Qdrant's DBSF fuses unweighted; use "
                    "weights=(1, 1), fusion_method='rrf', or fusion='client'"
                )
            if isinstance(store, CachedQdrantVectorStore):
                if self.weights != (1.0, 1.0):
                    raise ValueError(
                        f"weights={self.weights!r}: ragdrop's store fuses unweighted in "
                        "fusion='qdrant'; use weights=(1, 1) or fusion='client'"
                    )
                wanted = "rrf" if self.fusion_method == "rrf" else "dbsf"
                if store.hybrid_fusion != wanted:
                    raise ValueError(
                        f"fusion_method={self.fusion_method!r} needs a store built with "
                        f"hybrid_fusion={wanted!r} (it has {store.hybrid_fusion!r}): the store "
                        "fuses its HYBRID queries itself"
                    )
                return fp.store_rrf, (store,)
            if not isinstance(store, QdrantVectorStore):
                raise TypeError(
                    "fusion='qdrant' needs a Qdrant store (ragdrop's CachedQdrantVectorStore "
                    f"or LlamaIndex's QdrantVectorStore), got {type(store).__name__}"
                )
            # LlamaIndex keeps the store's sparse query encoder private and has no public
            # accessor; read it only when the caller did not pass the same function to us.
            encoder = sparse_query_fn or store._sparse_query_fn
            if encoder is None:
                raise ValueError("fusion='qdrant' on a QdrantVectorStore needs sparse_query_fn=")
            return fp.qdrant_rrf, (store, encoder)
        if self.bm25 is None and self.weights[0] > 0:
            raise ValueError("fusion='client' needs bm25= (or weights=(0, 1))")
        if self.vector_retriever is None and self.vector_index is None and self.weights[1] > 0:
            raise ValueError(
                "fusion='client' needs vector_retriever= or vector_index= (or weights=(1, 0))"
            )
        direct = self._direct_store()
        if direct is not None:
            aclient = direct.aclient if isinstance(direct, CachedQdrantVectorStore) else None
            return fp.point_rrf, (direct, aclient)
        return fp.client_rrf, ()

    def _direct_store(self) -> QdrantBackedStore | None:
        """The Qdrant store behind ``vector_index`` when it can be searched for ids only."""
        if self.vector_index is None or self.vector_retriever is not None:
            return None
        store = self.vector_index.vector_store
        return store if isinstance(store, CachedQdrantVectorStore | QdrantVectorStore) else None

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def from_index(cls, index: VectorStoreIndex, **kwargs: Any) -> HybridRetriever:
        """Over a ``VectorStoreIndex``: BM25 from its docstore, or from the store's payloads."""
        nodes = list(index.docstore.docs.values())
        if not nodes and index.vector_store.stores_text:
            nodes = list(iter_store_nodes(index.vector_store))
        bm25 = BM25Retriever(nodes=nodes, tokenizer=kwargs.pop("tokenizer", None))
        return cls(bm25=bm25, vector_index=index, **kwargs)

    @classmethod
    def from_nodes(
        cls,
        nodes: Sequence[BaseNode],
        embed_model: BaseEmbedding | None = None,
        vector_store: BasePydanticVectorStore | None = None,
        tokenizer: BM25Tokenizer | None = None,
        **kwargs: Any,
    ) -> HybridRetriever:
        """Index ``nodes`` in BM25 and in a vector side.

        By default the vector side is an `ArrayVectorRetriever` (exact cosine over an
        in-memory matrix): LlamaIndex's ``SimpleVectorStore`` scores every node in Python.
        Pass ``vector_store=`` (e.g. a Qdrant store) to index the nodes there instead.
        """
        bm25 = BM25Retriever(nodes=nodes, tokenizer=tokenizer)
        if vector_store is None:
            dense = ArrayVectorRetriever(
                nodes,
                embed_model=embed_model,
                similarity_top_k=kwargs.get("vector_candidates", DEFAULT_CANDIDATES),
            )
            return cls(bm25=bm25, vector_retriever=dense, embed_model=embed_model, **kwargs)
        index = VectorStoreIndex(
            list(nodes),
            storage_context=StorageContext.from_defaults(vector_store=vector_store),
            embed_model=embed_model,
        )
        return cls(bm25=bm25, vector_index=index, embed_model=embed_model, **kwargs)

    @classmethod
    def from_vector_store(
        cls,
        vector_store: BasePydanticVectorStore,
        embed_model: BaseEmbedding | None = None,
        persist_dir: str | Path | None = None,
        tokenizer: BM25Tokenizer | None = None,
        **kwargs: Any,
    ) -> HybridRetriever:
        """Over a Qdrant collection that already holds the text.

        In ``fusion="client"`` mode BM25 is built from the payloads (or loaded from
        ``persist_dir`` when it still matches the collection) and kept in step with later
        writes when the store tells them (`store_bm25`).
        """
        if kwargs.get("fusion", "client") == "qdrant":
            return cls(vector_store=vector_store, embed_model=embed_model, **kwargs)
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        bm25 = store_bm25(vector_store, persist_dir, tokenizer)
        return cls(
            bm25=bm25,
            vector_index=index,
            vector_store=vector_store,
            embed_model=embed_model,
            **kwargs,
        )

    def with_filters(self, filters: MetadataFilters | None) -> HybridRetriever:
        """A view sharing every index but applying ``filters`` to both sides."""
        view = copy.copy(self)
        view.filters = check.instance("filters", filters, MetadataFilters, allow_none=True)
        return view

    # ---- what the plans read (fusion_plans.FusionSettings) -------------------------------
    def _vector_side_waits(self) -> bool:
        """Whether the vector side waits on I/O (then it runs beside BM25 in a thread).

        In-process vector search is CPU work under the GIL: a thread would only add switch
        latency, so both sides then run one after the other.
        """
        if isinstance(self.vector_retriever, ArrayVectorRetriever):
            return False
        if self.vector_index is None:
            return True
        store = self.vector_index.vector_store
        if isinstance(store, SimpleVectorStore):
            return False
        if isinstance(store, QdrantBackedStore):
            return client_scope(store.client)[1] not in ("memory", "path")
        return True

    def vector_side(self, filters: MetadataFilters | None) -> BaseRetriever:
        """The vector retriever applying ``filters``."""
        if self.vector_index is not None:
            return self.vector_index.as_retriever(
                similarity_top_k=self.vector_candidates, filters=filters
            )
        retriever = self.vector_retriever
        if retriever is None:
            raise ValueError("no vector retriever configured")
        if filters is None:
            return retriever
        if not isinstance(retriever, FilterableRetriever):
            raise ValueError(
                f"{type(retriever).__name__} takes no filters (it has no with_filters); "
                "pass vector_index= instead"
            )
        return retriever.with_filters(filters)

    def dense_vector_name(self, store: QdrantBackedStore) -> Plan:
        """The collection's dense vector name (None: the unnamed one; False: no collection)."""
        name = store.collection_name
        if name in self._dense_names:
            return self._dense_names[name]
        aclient = store.aclient if isinstance(store, CachedQdrantVectorStore) else None
        if not (
            yield ClientCall(store.client, aclient, "collection_exists", {"collection_name": name})
        ):
            return False
        info = yield ClientCall(store.client, aclient, "get_collection", {"collection_name": name})
        vectors = info.config.params.vectors
        using: str | None = None
        if isinstance(vectors, dict):
            wanted = store.dense_vector_name if isinstance(store, QdrantVectorStore) else None
            using = wanted if wanted in vectors else (next(iter(vectors), None) or None)
        self._dense_names[name] = using
        return using

    def forget_dense_vector_name(self, store: QdrantBackedStore) -> bool:
        """Read the collection's vector name again next time; True if one was remembered."""
        return self._dense_names.pop(store.collection_name, False) is not False

    def point_id(self, node_id: str) -> str:
        """The Qdrant point id of ``node_id`` (memoised)."""
        memo = self._point_ids
        if node_id not in memo:
            if len(memo) > 1_000_000:
                memo.clear()
            memo[node_id] = point_id_for(node_id)
        return memo[node_id]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ragdrop-hybrid")
            return self._pool

    # ---- LlamaIndex hooks ----------------------------------------------------------------
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return []
        return run_sync(self._query_plan(query_bundle), self._executor())

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return []
        if not self.overlap:  # all in-process CPU work: keep it off the event loop
            return await asyncio.to_thread(self._retrieve, query_bundle)
        return await run_async(self._query_plan(query_bundle))

    def _query_plan(self, query_bundle: QueryBundle) -> Plan:
        filters = self.filters
        plan = partial(self._mode, self, *self._mode_args, query_bundle, filters)
        if self._results is None or not self.cache_results or not self._results.enabled:
            return plan()
        return self._results.plan(self, self._mode.__name__, query_bundle, filters, plan)
