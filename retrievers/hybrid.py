"""BM25 + vector retrieval run concurrently and fused by reciprocal rank fusion.

Two fusion modes:

* ``fusion="client"`` (default): BM25 from our in-process `BM25Index` (rank_bm25's Okapi
  scores over the live corpus statistics) and the vector retriever run at the same time; the
  two ranked lists are fused here by `reciprocal_rank_fusion`, which records each node's
  rank and score per side in ``node.metadata["fusion"]``.
* ``fusion="qdrant"``: both sides run inside Qdrant (scale-out): BM25 is a sparse vector
  (`BM25SparseEncoder`) in the same collection, and dense and sparse prefetches are fused
  by Qdrant's Query API RRF. Rankings differ from the client mode because (1) Qdrant's IDF
  is Lucene's ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (never negative, no Okapi floor);
  (2) document length normalisation uses the ``avg_doc_len`` fixed when the documents were
  encoded, not the live corpus average; (3) RRF runs on the server: on LlamaIndex's
  ``QdrantVectorStore`` we send the Query API request ourselves with ``k + 1`` because
  Qdrant counts ranks from 0, so unweighted scores equal the client mode's, but Qdrant's
  weighted RRF scales ranks (``1 / (rank / w + k)``) where ours scales scores
  (``w / (k + rank)``); ragdrop's ``CachedQdrantVectorStore`` fuses with its own
  ``rrf_k`` and no weights (its HYBRID query, which also goes through its query cache);
  (4) only the fused score comes back, so provenance holds the Qdrant rank and score
  only; (5) ties are broken by Qdrant. Use `bm25_sparse_functions` as the store's
  ``sparse_doc_fn``/``sparse_query_fn`` so both modes share one tokenizer.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import math
import numbers
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, cast

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from ragdrop.observability.stages import stage
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.sparse import BM25SparseEncoder
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.fusion import (
    FUSION_KEY,
    fuse_ranked_ids,
    reciprocal_rank_fusion,
    with_fusion_provenance,
)
from ragdrop.retrievers.store_sync import (
    fetch_points,
    fetch_store_nodes,
    index_point_ids,
    iter_store_nodes,
    store_point_ids,
)

FusionMode = Literal["client", "qdrant"]
FUSION_MODES: tuple[str, ...] = ("client", "qdrant")
SOURCES = ("bm25", "vector")
# Tuned once for scifact, cranfield and cisi together (benchmarks/retrieval_quality.py
# --grid), never per dataset: k=10 beat the paper's 60 on all three (with two lists of
# similar quality the top ranks carry the signal), equal weights generalise, and 100
# candidates per side let a document that only one side ranks well still win.
DEFAULT_WEIGHTS = (1.0, 1.0)
DEFAULT_CANDIDATES = 100
DEFAULT_RRF_K = 10


class HybridRetriever(BaseRetriever):
    """BM25 and a vector retriever queried concurrently, fused by reciprocal rank fusion.

    Args:
        bm25: the keyword side (`BM25Retriever`); None in ``fusion="qdrant"`` mode.
        vector_retriever: any LlamaIndex retriever (or pass ``vector_index``).
        vector_index: a ``VectorStoreIndex``; its retriever is built per filter set.
        similarity_top_k: fused results returned.
        bm25_candidates: BM25 candidates read into the fusion.
        vector_candidates: vector candidates read into the fusion.
        rrf_k: reciprocal rank fusion constant.
        weights: RRF weights of (bm25, vector); 0 switches a side off.
        filters: metadata filters applied to both sides (see also `with_filters`).
        fusion: ``"client"`` or ``"qdrant"`` (see the module docstring for the differences).
        vector_store: the Qdrant store queried in ``"qdrant"`` mode.
        embed_model: query embedding model for ``"qdrant"`` mode.

    Example:
        >>> retriever = HybridRetriever.from_nodes(nodes, embed_model=embed)  # doctest: +SKIP
        >>> retriever.retrieve("what is bm25")[0].node.metadata["fusion"]  # doctest: +SKIP
        {'score': 0.032, 'sources': {'bm25': {'rank': 1, ...}, 'vector': {'rank': 2, ...}}}
    """

    def __init__(
        self,
        bm25: BM25Retriever | None = None,
        vector_retriever: BaseRetriever | None = None,
        *,
        vector_index: Any = None,
        similarity_top_k: int = 10,
        bm25_candidates: int = DEFAULT_CANDIDATES,
        vector_candidates: int = DEFAULT_CANDIDATES,
        rrf_k: float = DEFAULT_RRF_K,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        filters: MetadataFilters | None = None,
        fusion: str = "client",
        vector_store: Any = None,
        embed_model: Any = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {list(FUSION_MODES)}, got {fusion!r}")
        for name, value in (
            ("similarity_top_k", similarity_top_k),
            ("bm25_candidates", bm25_candidates),
            ("vector_candidates", vector_candidates),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if len(weights) != 2 or any(
            isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0
            for w in weights
        ):
            raise ValueError(
                f"weights must be two finite numbers >= 0 (bm25, vector), got {weights!r}"
            )
        if not rrf_k >= 0:
            raise ValueError(f"rrf_k must be >= 0, got {rrf_k!r}")
        if filters is not None and not isinstance(filters, MetadataFilters):
            raise TypeError(
                f"filters must be MetadataFilters or None, got {type(filters).__name__}"
            )
        if bm25 is not None and not isinstance(bm25, BM25Retriever):
            raise TypeError(f"bm25 must be a BM25Retriever, got {type(bm25).__name__}")
        if fusion == "client":
            if bm25 is None and weights[0] > 0:
                raise ValueError("fusion='client' needs bm25= (or weights=(0, 1))")
            if vector_retriever is None and vector_index is None and weights[1] > 0:
                raise ValueError(
                    "fusion='client' needs vector_retriever= or vector_index= (or weights=(1, 0))"
                )
        elif vector_store is None or embed_model is None:
            raise ValueError("fusion='qdrant' needs vector_store= and embed_model=")
        elif callable(getattr(vector_store, "add_write_listener", None)) and tuple(weights) != (
            1,
            1,
        ):
            raise ValueError(
                f"weights={tuple(weights)!r}: ragdrop's store fuses unweighted in fusion='qdrant'"
            )
        self.bm25 = bm25
        self.vector_retriever = vector_retriever
        self.vector_index = vector_index
        self.similarity_top_k = similarity_top_k
        self.bm25_candidates = bm25_candidates
        self.vector_candidates = vector_candidates
        self.rrf_k = rrf_k
        self.weights = (float(weights[0]), float(weights[1]))
        self.filters = filters
        self.fusion = fusion
        self.vector_store = vector_store
        self.embed_model = embed_model
        # node id -> Qdrant point id (a UUID5 for non-UUID ids: ~µs each, so memoised).
        self._point_ids: dict[str, str] = {}
        # collection -> dense vector name, read once (a get_collection per query costs ms).
        self._dense_names: dict[str, str | None] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def from_index(cls, index: Any, **kwargs: Any) -> HybridRetriever:
        """Over a ``VectorStoreIndex``: BM25 from its docstore, or from the store's payloads."""
        nodes = list(index.docstore.docs.values())
        if not nodes and getattr(index.vector_store, "stores_text", False):
            nodes = list(iter_store_nodes(index.vector_store))
        bm25 = BM25Retriever(nodes=nodes, tokenizer=kwargs.pop("tokenizer", None))
        return cls(bm25=bm25, vector_index=index, **kwargs)

    @classmethod
    def from_nodes(
        cls,
        nodes: Sequence[BaseNode],
        embed_model: Any = None,
        vector_store: Any = None,
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
            from ragdrop.retrievers.dense import ArrayVectorRetriever

            dense = ArrayVectorRetriever(
                nodes,
                embed_model=embed_model,
                similarity_top_k=kwargs.get("vector_candidates", DEFAULT_CANDIDATES),
            )
            return cls(bm25=bm25, vector_retriever=dense, **kwargs)
        from llama_index.core import StorageContext, VectorStoreIndex

        index = VectorStoreIndex(
            list(nodes),
            storage_context=StorageContext.from_defaults(vector_store=vector_store),
            embed_model=embed_model,
        )
        return cls(bm25=bm25, vector_index=index, **kwargs)

    @classmethod
    def from_vector_store(
        cls,
        vector_store: Any,
        embed_model: Any = None,
        persist_dir: str | Path | None = None,
        tokenizer: BM25Tokenizer | None = None,
        **kwargs: Any,
    ) -> HybridRetriever:
        """Over a Qdrant collection that already holds the text.

        In ``fusion="client"`` mode BM25 is built from the payloads (or loaded from
        ``persist_dir`` when it still matches the collection) and kept in step with later
        writes through the store's ``add_write_listener`` when it has one.
        """
        from llama_index.core import VectorStoreIndex

        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        if kwargs.get("fusion", "client") == "qdrant":
            return cls(vector_store=vector_store, embed_model=embed_model, **kwargs)
        bm25 = store_bm25(vector_store, persist_dir, tokenizer)
        return cls(bm25=bm25, vector_index=index, vector_store=vector_store, **kwargs)

    def with_filters(self, filters: MetadataFilters | None) -> HybridRetriever:
        """A view sharing every index but applying ``filters`` to both sides."""
        view = copy.copy(self)
        view.filters = filters
        return view

    # ---- the two sides -------------------------------------------------------------------
    def _vector_side(self, filters: MetadataFilters | None) -> BaseRetriever:
        if self.vector_index is not None:
            return self.vector_index.as_retriever(
                similarity_top_k=self.vector_candidates, filters=filters
            )
        retriever = self.vector_retriever
        if retriever is None:
            raise ValueError("no vector retriever configured")
        if filters is None:
            return retriever
        if not hasattr(retriever, "_filters"):
            raise ValueError(
                f"{type(retriever).__name__} takes no filters; pass vector_index= instead"
            )
        view = copy.copy(retriever)
        view._filters = filters
        return view

    def _bm25_hits(self, query: str, filters: MetadataFilters | None) -> list[NodeWithScore]:
        if self.bm25 is None or self.weights[0] == 0:
            return []
        hits = self.bm25.search(query, top_k=self.bm25_candidates, filters=filters)
        kept = self.bm25.kept_nodes
        # Nodes not kept in memory are fetched after fusion, for the final results only.
        return [NodeWithScore(node=kept.get(i) or _Placeholder(id_=i), score=s) for i, s in hits]

    def _vector_hits(
        self, query: QueryBundle, filters: MetadataFilters | None
    ) -> list[NodeWithScore]:
        if self.weights[1] == 0:
            return []
        with stage("vector"):
            return self._vector_side(filters).retrieve(query)

    async def _avector_hits(
        self, query: QueryBundle, filters: MetadataFilters | None
    ) -> list[NodeWithScore]:
        if self.weights[1] == 0:
            return []
        with stage("vector"):
            return await self._vector_side(filters).aretrieve(query)

    def _fuse(self, bm25: list[NodeWithScore], vector: list[NodeWithScore]) -> list[NodeWithScore]:
        with stage("fusion"):
            fused = reciprocal_rank_fusion(
                [bm25, vector],
                k=self.rrf_k,
                weights=self.weights,
                top_k=self.similarity_top_k,
                sources=SOURCES,
            )
        missing = [r.node.node_id for r in fused if isinstance(r.node, _Placeholder)]
        if not missing or self.bm25 is None:
            return fused
        nodes = self.bm25.get_nodes(missing)
        out = []
        for r in fused:
            if isinstance(r.node, _Placeholder):
                real = nodes.get(r.node.node_id)
                if real is None:  # deleted from the store since BM25 saw it
                    continue
                r = _real_node(r, real)
            out.append(r)
        return out

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=4, thread_name_prefix="ragdrop-hybrid"
                    )
        return self._pool

    # ---- LlamaIndex hooks ----------------------------------------------------------------
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return []
        if self.fusion == "qdrant":
            query = self._store_query(query_bundle, self._embed(query_bundle))
            if self._store_fuses():
                with stage("fusion"):
                    return _with_qdrant_provenance(self.vector_store.query(query))
            request = self._qdrant_request(query)
            with stage("fusion"):
                points = self.vector_store.client.query_points(**request).points
            return _with_qdrant_provenance(self.vector_store.parse_to_query_result(points))
        filters = self.filters
        fast = self._qdrant_direct()
        vector_fn: Callable[[QueryBundle, MetadataFilters | None], list[Any]] = (
            self._vector_point_hits if fast else self._vector_hits
        )
        if self._vector_in_process():
            # Both sides are CPU work under the GIL: a thread would only add switch latency.
            vector = vector_fn(query_bundle, filters)
            bm25 = self._bm25_hits(query_bundle.query_str, filters)
        else:
            # The vector side waits on I/O in a worker (with this request's context, so its
            # stage timings land in the same record) while BM25 runs here.
            ctx = contextvars.copy_context()
            future = self._executor().submit(ctx.run, vector_fn, query_bundle, filters)
            bm25 = self._bm25_hits(query_bundle.query_str, filters)
            vector = future.result()
        if fast:
            return self._fuse_points(bm25, cast(list[tuple[str, float]], vector))
        return self._fuse(bm25, cast(list[NodeWithScore], vector))

    def _vector_in_process(self) -> bool:
        """Whether the vector side is pure in-process CPU (no I/O to overlap with BM25)."""
        from ragdrop.retrievers.dense import ArrayVectorRetriever

        if isinstance(self.vector_retriever, ArrayVectorRetriever):
            return True
        if self.vector_index is None:
            return False
        store = getattr(self.vector_index, "vector_store", None)
        client = getattr(store, "client", None)
        if client is None:
            return type(store).__name__ == "SimpleVectorStore"
        from qdrant_client.local.qdrant_local import QdrantLocal

        return isinstance(getattr(client, "_client", None), QdrantLocal)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return []
        if self.fusion == "qdrant":
            query = self._store_query(query_bundle, await self._aembed(query_bundle))
            if self._store_fuses():
                with stage("fusion"):
                    return _with_qdrant_provenance(await self.vector_store.aquery(query))
            request = self._qdrant_request(query)
            aclient = getattr(self.vector_store, "aclient", None)
            with stage("fusion"):
                if aclient is not None:
                    points = (await aclient.query_points(**request)).points
                else:
                    points = (
                        await asyncio.to_thread(self.vector_store.client.query_points, **request)
                    ).points
            return _with_qdrant_provenance(self.vector_store.parse_to_query_result(points))
        filters = self.filters
        if self._vector_in_process():
            return await asyncio.to_thread(self._retrieve, query_bundle)
        if self._qdrant_direct():
            bm25, points = await asyncio.gather(
                asyncio.to_thread(self._bm25_hits, query_bundle.query_str, filters),
                asyncio.to_thread(self._vector_point_hits, query_bundle, filters),
            )
            return await asyncio.to_thread(self._fuse_points, bm25, points)
        bm25, vector = await asyncio.gather(
            asyncio.to_thread(self._bm25_hits, query_bundle.query_str, filters),
            self._avector_hits(query_bundle, filters),
        )
        return self._fuse(bm25, vector)

    # ---- client fusion straight on a Qdrant collection -----------------------------------
    def _qdrant_direct(self) -> bool:
        """Whether the vector side is a Qdrant collection we can query for ids only.

        Candidates then travel as point ids (no payloads parsed) and only the fused top
        results are read back: the vector side costs Qdrant's search, not 100 node parses.
        """
        if self.vector_index is None or self.vector_retriever is not None:
            return False
        store = getattr(self.vector_index, "vector_store", None)
        return (
            getattr(store, "client", None) is not None
            and isinstance(getattr(store, "collection_name", None), str)
            and (
                callable(getattr(store, "add_write_listener", None))
                or callable(getattr(store, "_build_query_filter", None))
            )
        )

    def _vector_point_hits(
        self, query: QueryBundle, filters: MetadataFilters | None
    ) -> list[tuple[str, float]]:
        if self.weights[1] == 0:
            return []
        store = self.vector_index.vector_store
        embedding = query.embedding
        if embedding is None:
            with stage("embed"):
                embedding = self.vector_index._embed_model.get_query_embedding(query.query_str)
        with stage("vector"):
            if callable(getattr(store, "add_write_listener", None)):
                from ragdrop.vector_stores import query_filter

                flt = query_filter(filters)
            else:
                flt = store._build_query_filter(VectorStoreQuery(filters=filters))
            using = self._dense_names.get(store.collection_name, "")
            if using == "":
                if not store.client.collection_exists(store.collection_name):
                    return []
                using = self._dense_names[store.collection_name] = self._dense_name(store)
            points = store.client.query_points(
                collection_name=store.collection_name,
                query=list(embedding),
                using=using,
                limit=self.vector_candidates,
                query_filter=flt,
                with_payload=False,
                with_vectors=False,
            ).points
        return [(str(p.id), float(p.score)) for p in points]

    @staticmethod
    def _dense_name(store: Any) -> str | None:
        """Name of the collection's dense vector (None when it is the unnamed one)."""
        vectors = store.client.get_collection(store.collection_name).config.params.vectors
        if isinstance(vectors, dict):
            if getattr(store, "dense_vector_name", None) in vectors:
                return str(store.dense_vector_name)
            return next(iter(vectors), None) or None
        return None

    def _fuse_points(
        self, bm25: list[NodeWithScore], vector: list[tuple[str, float]]
    ) -> list[NodeWithScore]:
        from ragdrop.vector_stores.points import point_id_for

        with stage("fusion"):
            memo = self._point_ids
            if len(memo) > 1_000_000:
                memo.clear()
            bm25_points: list[tuple[str, float | None]] = []
            for h in bm25:
                node_id = h.node.node_id
                if node_id not in memo:
                    memo[node_id] = point_id_for(node_id)
                bm25_points.append((memo[node_id], h.score))
            fused = fuse_ranked_ids(
                [bm25_points, list(vector)],
                k=self.rrf_k,
                weights=self.weights,
                top_k=self.similarity_top_k,
                sources=SOURCES,
            )
            nodes = fetch_points(self.vector_index.vector_store, [i for i, _, _ in fused])
            return [
                with_fusion_provenance(NodeWithScore(node=nodes[i], score=score), score, prov)
                for i, score, prov in fused
                if i in nodes
            ]

    # ---- fusion="qdrant" -----------------------------------------------------------------
    def _embed(self, query: QueryBundle) -> list[float]:
        if query.embedding is not None:
            return list(query.embedding)
        with stage("embed"):
            return list(self.embed_model.get_query_embedding(query.query_str))

    async def _aembed(self, query: QueryBundle) -> list[float]:
        if query.embedding is not None:
            return list(query.embedding)
        with stage("embed"):
            return list(await self.embed_model.aget_query_embedding(query.query_str))

    def _store_fuses(self) -> bool:
        """ragdrop's store runs Qdrant RRF itself (with its ``rrf_k``, unweighted)."""
        return callable(getattr(self.vector_store, "add_write_listener", None))

    def _store_query(self, query: QueryBundle, embedding: list[float]) -> VectorStoreQuery:
        return VectorStoreQuery(
            query_embedding=embedding,
            query_str=query.query_str,
            similarity_top_k=self.vector_candidates,
            sparse_top_k=self.bm25_candidates,
            hybrid_top_k=self.similarity_top_k,
            mode=VectorStoreQueryMode.HYBRID,
            filters=self.filters,
        )

    def _qdrant_request(self, query: VectorStoreQuery) -> dict[str, Any]:
        """One Query API call on a LlamaIndex ``QdrantVectorStore``: dense + sparse
        prefetches fused by Qdrant's RRF (LlamaIndex itself would fuse client-side)."""
        from qdrant_client import models

        store = self.vector_store
        query_filter = store._build_query_filter(query)
        indices, values = store._sparse_query_fn([query.query_str])
        prefetch = []
        used: list[float] = []  # one weight per prefetch actually sent
        if self.weights[0] > 0 and indices[0]:
            used.append(self.weights[0])
            prefetch.append(
                models.Prefetch(
                    query=models.SparseVector(indices=indices[0], values=values[0]),
                    using=store.sparse_vector_name,
                    limit=self.bm25_candidates,
                    filter=query_filter,
                )
            )
        if self.weights[1] > 0:
            used.append(self.weights[1])
            prefetch.append(
                models.Prefetch(
                    query=query.query_embedding,
                    using=store.dense_vector_name,
                    limit=self.vector_candidates,
                    filter=query_filter,
                )
            )
        weights = None if all(w == 1.0 for w in used) else used
        return {
            "collection_name": store.collection_name,
            "prefetch": prefetch,
            # Qdrant ranks from 0: k + 1 gives the client mode's 1 / (k + rank from 1).
            "query": models.RrfQuery(rrf=models.Rrf(k=int(self.rrf_k) + 1, weights=weights)),
            "limit": self.similarity_top_k,
            "with_payload": True,
        }


class _Placeholder(TextNode):
    """Stands for a hit whose node lives only in the vector store (read after fusion)."""


def _placeholder(node_id: str) -> _Placeholder:
    return _Placeholder(id_=node_id)


def _real_node(fused: NodeWithScore, real: BaseNode) -> NodeWithScore:
    """A copy of ``real`` carrying the provenance that fusion put on its placeholder."""
    node = real.model_copy()
    node.metadata = {**real.metadata, FUSION_KEY: fused.node.metadata[FUSION_KEY]}
    node.excluded_embed_metadata_keys = [*real.excluded_embed_metadata_keys, FUSION_KEY]
    node.excluded_llm_metadata_keys = [*real.excluded_llm_metadata_keys, FUSION_KEY]
    return NodeWithScore(node=node, score=fused.score)


def _with_qdrant_provenance(result: Any) -> list[NodeWithScore]:
    """New nodes (copies) carrying the Qdrant-fused rank and score as provenance."""
    out = []
    similarities = result.similarities or [0.0] * len(result.nodes)
    for rank, (node, score) in enumerate(zip(result.nodes, similarities, strict=True), 1):
        node = node.model_copy()
        node.metadata = {
            **node.metadata,
            FUSION_KEY: {"score": score, "sources": {"qdrant": {"rank": rank, "score": score}}},
        }
        for attr in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
            keys = getattr(node, attr)
            if FUSION_KEY not in keys:
                setattr(node, attr, [*keys, FUSION_KEY])
        out.append(NodeWithScore(node=node, score=score))
    return out


def bm25_sparse_functions(
    tokenizer: BM25Tokenizer | None = None, avg_doc_len: float = 100.0
) -> dict[str, Any]:
    """``sparse_doc_fn``/``sparse_query_fn`` for a hybrid Qdrant store (``fusion="qdrant"``)."""
    encoder = BM25SparseEncoder(tokenizer or BM25Tokenizer(), avg_doc_len=avg_doc_len)
    return {"sparse_doc_fn": encoder.doc_fn, "sparse_query_fn": encoder.query_fn}


# One BM25 index per live store object, because each follows the store's writes: a second
# index registered on the same store would double the work (and the files it persists).
# Keyed by id() with a weak reference (pydantic stores are unhashable).
_STORE_BM25: dict[int, tuple[weakref.ref[Any], BM25Retriever]] = {}
_STORE_BM25_LOCK = threading.Lock()


def store_bm25(
    vector_store: Any, persist_dir: str | Path | None = None, tokenizer: BM25Tokenizer | None = None
) -> BM25Retriever:
    """The BM25 index over ``vector_store``'s payloads that follows its writes.

    Built (or loaded from ``persist_dir``) on first use, then shared by every retriever over
    that store object.
    """
    with _STORE_BM25_LOCK:
        entry = _STORE_BM25.get(id(vector_store))
        if entry is not None and entry[0]() is vector_store:
            bm25 = entry[1]
            if tokenizer is None or bm25.index.tokenizer == tokenizer:
                return bm25
        bm25 = load_or_build_bm25(vector_store, persist_dir, tokenizer)
        follow_store_writes(vector_store, bm25, persist_dir)
        _STORE_BM25[id(vector_store)] = (weakref.ref(vector_store), bm25)
        weakref.finalize(vector_store, _STORE_BM25.pop, id(vector_store), None)
        return bm25


def load_or_build_bm25(
    vector_store: Any, persist_dir: str | Path | None, tokenizer: BM25Tokenizer | None = None
) -> BM25Retriever:
    """BM25 over a store's payloads: loaded from ``persist_dir`` when it matches, else rebuilt."""
    if persist_dir is not None and (Path(persist_dir) / "retriever.json").exists():
        try:
            bm25 = BM25Retriever.from_persist_dir(persist_dir)
        except (ValueError, KeyError, TypeError, OSError):
            bm25 = None
        # Reuse only an index over exactly the store's points: equal counts are not enough
        # (a write missed between the store and the persist, or a rebuild with as many
        # chunks, leaves a stale index of the same size).
        if (
            bm25 is not None
            and (tokenizer is None or bm25.index.tokenizer == tokenizer)
            and _same_points(bm25, vector_store)
        ):
            _attach_fetcher(bm25, vector_store)
            return bm25
    # The store holds the texts: keep only ids and metadata here (less memory, and
    # persisting after each write does not rewrite every text).
    bm25 = BM25Retriever(tokenizer=tokenizer, keep_nodes=False)
    _add_store_nodes(bm25, vector_store)
    if persist_dir is not None:
        bm25.persist(persist_dir)
    _attach_fetcher(bm25, vector_store)
    return bm25


def _same_points(bm25: BM25Retriever, vector_store: Any) -> bool:
    """Whether ``bm25`` indexes exactly the store's points (False when the store can't tell)."""
    stored = store_point_ids(vector_store)
    if stored is None:
        return False
    ids = bm25.index.ids
    return len(ids) == len(stored) and index_point_ids(ids) == stored


def _add_store_nodes(bm25: BM25Retriever, vector_store: Any, batch_size: int = 4096) -> None:
    batch: list[BaseNode] = []
    for node in iter_store_nodes(vector_store):
        batch.append(node)
        if len(batch) >= batch_size:
            bm25.add_nodes(batch)
            batch = []
    bm25.add_nodes(batch)


def _attach_fetcher(bm25: BM25Retriever, vector_store: Any) -> None:
    bm25._node_fetcher = lambda ids: fetch_store_nodes(vector_store, ids)


def follow_store_writes(
    vector_store: Any, bm25: BM25Retriever, persist_dir: str | Path | None = None
) -> bool:
    """Keep ``bm25`` in step with the store's writes; False when the store cannot tell us."""
    add_listener = getattr(vector_store, "add_write_listener", None)
    if not callable(add_listener):
        return False
    add_listener(StoreWriteFollower(bm25, persist_dir, vector_store=vector_store))
    return True


class StoreWriteFollower:
    """Write listener applying a vector store's adds and deletes to a `BM25Retriever`."""

    def __init__(
        self,
        bm25: BM25Retriever,
        persist_dir: str | Path | None = None,
        vector_store: Any = None,
    ) -> None:
        self.bm25 = bm25
        self.persist_dir = persist_dir
        self.vector_store = vector_store

    def on_add(self, nodes: Sequence[BaseNode]) -> None:
        self.bm25.add_nodes(nodes)
        self._persist()

    def on_delete(
        self, ref_doc_id: str | None = None, node_ids: Sequence[str] | None = None
    ) -> None:
        if ref_doc_id is not None:
            self.bm25.delete_ref_doc(ref_doc_id)
        if node_ids:
            self.bm25.delete_nodes(node_ids)
        self._persist()

    def on_clear(self) -> None:
        self.bm25.delete_nodes(self.bm25.index.ids)
        self._persist()

    def on_restore(self) -> None:
        """The collection was replaced from a backup: re-read every node from the store."""
        if self.vector_store is None:
            raise ValueError(
                "a restore replaced the collection, but this BM25 follower has no vector_store "
                "to re-read it from; rebuild it with store_bm25(vector_store)"
            )
        self.bm25.delete_nodes(self.bm25.index.ids)
        _add_store_nodes(self.bm25, self.vector_store)
        self._persist()

    def __call__(self, event: Any) -> None:
        """Apply a ``WriteEvent`` (``kind`` add / delete / delete_nodes / clear / restore)."""
        kind = getattr(event, "kind", None)
        if kind == "add":
            self.on_add(event.nodes)
        elif kind == "delete":
            self.on_delete(ref_doc_id=event.ref_doc_id, node_ids=event.node_ids)
        elif kind == "delete_nodes":
            self.on_delete(node_ids=event.node_ids)
        elif kind == "clear":
            self.on_clear()
        elif kind == "restore":
            self.on_restore()
        else:
            raise ValueError(f"unknown store write event kind {kind!r}")

    def _persist(self) -> None:
        if self.persist_dir is not None:
            self.bm25.persist(self.persist_dir)
