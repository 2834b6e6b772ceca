"""The four ways `HybridRetriever` answers a query, each written once as a plan (`plans`).

* `client_rrf`: BM25 and any LlamaIndex vector retriever, fused here by
  `reciprocal_rank_fusion` (a side with weight 0 is not queried: vector-only, BM25-only);
* `point_rrf`: BM25 and a Qdrant collection queried for point ids only; only the fused top
  results are read back (the vector side costs Qdrant's search, not 100 node parses);
* `store_rrf`: ragdrop's store runs dense + sparse prefetches and Qdrant's RRF itself;
* `qdrant_rrf`: the same Query API request sent to a LlamaIndex ``QdrantVectorStore``.

The retriever picks one at construction; the plans only read its settings (`FusionSettings`).

Rankings of the Qdrant-side modes differ from `client_rrf` because (1) Qdrant's IDF is
Lucene's ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (never negative, no Okapi floor); (2)
document length normalisation uses the ``avg_doc_len`` fixed when the documents were encoded,
not the live corpus average; (3) RRF runs on the server: `qdrant_rrf` sends ``k + 1`` because
Qdrant counts ranks from 0, so unweighted scores equal the client mode's, but Qdrant's
weighted RRF scales ranks (``1 / (rank / w + k)``) where ours scales scores
(``w / (k + rank)``); ragdrop's store fuses with its own ``rrf_k`` and no weights (its HYBRID
query, which also goes through its query cache); (4) only the fused score comes back, so
provenance holds the Qdrant rank and score only; (5) ties are broken by Qdrant.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Protocol

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from qdrant_client import models
from qdrant_client.async_client_base import AsyncQdrantBase

from ragdrop.core.protocols import QdrantBackedStore
from ragdrop.core.provenance import FUSION_KEY, annotate
from ragdrop.observability.stages import Stage, stage
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.feedback import PseudoRelevanceFeedback
from ragdrop.retrievers.feedback_plans import (
    FirstPass,
    Placeholder,
    feedback_lists,
    fusion_args,
    node_feedback,
)
from ragdrop.retrievers.fusion import fuse_ranked_ids, fuse_result_lists
from ragdrop.retrievers.plans import (
    Both,
    ClientCall,
    Embed,
    Plan,
    Retrieve,
    Step,
    StoreQuery,
    Work,
)
from ragdrop.retrievers.store_reader import nodes_from_records
from ragdrop.vector_stores import query_filter
from ragdrop.vector_stores.points import SparseEncoder

if TYPE_CHECKING:
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore

SOURCES = ("bm25", "vector")


class FusionSettings(Protocol):
    """What the plans read from the retriever (`HybridRetriever` implements it)."""

    bm25: BM25Retriever | None
    similarity_top_k: int
    bm25_candidates: int
    vector_candidates: int
    rrf_k: float
    weights: tuple[float, float]
    fusion_method: str
    feedback: PseudoRelevanceFeedback | None
    embed_model: BaseEmbedding | None
    overlap: bool

    def vector_side(self, filters: MetadataFilters | None) -> BaseRetriever: ...

    def dense_vector_name(self, store: QdrantBackedStore) -> Plan: ...

    def forget_dense_vector_name(self, store: QdrantBackedStore) -> bool: ...

    def point_id(self, node_id: str) -> str: ...


def _bm25_hits(
    r: FusionSettings, query: str, filters: MetadataFilters | None
) -> list[NodeWithScore]:
    if r.bm25 is None:
        return []
    hits = r.bm25.search(query, top_k=r.bm25_candidates, filters=filters)
    kept = r.bm25.kept_nodes
    return [NodeWithScore(node=kept.get(i) or Placeholder(id_=i), score=s) for i, s in hits]


def _sides(r: FusionSettings, bm25: Step | Plan, vector: Step | Plan) -> Plan:
    """Both sides (overlapped when the vector side waits on I/O), or the one switched on."""
    if r.bm25 is None or r.weights[0] == 0:
        return [], (yield from _one(vector))
    if r.weights[1] == 0:
        return (yield from _one(bm25)), []
    return (yield Both(bm25, vector, overlap=r.overlap))


def _one(part: Step | Plan) -> Plan:
    if isinstance(part, Generator):
        return (yield from part)
    return (yield part)


def _embedding(r: FusionSettings, query: QueryBundle) -> Plan:
    if query.embedding is not None:
        return list(query.embedding)
    if r.embed_model is None:
        raise ValueError("this retriever needs embed_model= to embed the query")
    return list((yield Embed(r.embed_model, query.query_str)))


def client_rrf(r: FusionSettings, query: QueryBundle, filters: MetadataFilters | None) -> Plan:
    """BM25 + a LlamaIndex vector retriever, fused here (then the feedback pass, if set)."""
    if (
        r.feedback is not None
        and query.embedding is None
        and r.embed_model is not None
        and r.weights[1] > 0
    ):
        # Rocchio needs the query vector: embed once and hand it to the vector side too.
        query = replace(query, embedding=(yield from _embedding(r, query)))
    side = r.vector_side(filters)
    bm25, vector = yield from _sides(
        r, Work(partial(_bm25_hits, r, query.query_str, filters)), Retrieve(side, query)
    )
    if r.feedback is not None:
        bm25, vector = yield from node_feedback(r, r.feedback, side, query, filters, bm25, vector)
    with stage(Stage.FUSION):
        fused = fuse_result_lists(
            [bm25, vector],
            r.fusion_method,
            k=r.rrf_k,
            weights=r.weights,
            top_k=r.similarity_top_k,
            sources=SOURCES,
        )
    missing = [f.node.node_id for f in fused if isinstance(f.node, Placeholder)]
    if not missing or r.bm25 is None:
        return fused
    nodes = yield Work(partial(r.bm25.get_nodes, missing), stage=Stage.FUSION)
    out = []
    for f in fused:
        if isinstance(f.node, Placeholder):
            real = nodes.get(f.node.node_id)
            if real is None:  # deleted from the store since BM25 saw it
                continue
            f = annotate(NodeWithScore(node=real), FUSION_KEY, f.node.metadata[FUSION_KEY], f.score)
        out.append(f)
    return out


def point_rrf(
    r: FusionSettings,
    store: QdrantBackedStore,
    aclient: AsyncQdrantBase | None,
    query: QueryBundle,
    filters: MetadataFilters | None,
) -> Plan:
    """BM25 + the Qdrant collection searched for point ids; the fused top read back.

    A query without an embedding, on a retriever without an embed model, goes through the
    index's own retriever instead (`client_rrf`): only the index knows its model.
    """
    if query.embedding is None and r.embed_model is None:
        return (yield from client_rrf(r, query, filters))

    feedback = r.feedback
    embedding: list[float] | None = None
    using: str | None | bool = None

    def vector_hits(vector_query: list[float] | None = None) -> Plan:
        nonlocal embedding, using
        if vector_query is None:
            embedding = vector_query = yield from _embedding(r, query)
            using = yield from r.dense_vector_name(store)
        if using is False:  # no collection yet
            return []

        def search(name: str | bool | None) -> ClientCall:
            return ClientCall(
                store.client,
                aclient,
                "query_points",
                {
                    "collection_name": store.collection_name,
                    "query": vector_query,
                    "using": name,
                    "limit": r.vector_candidates,
                    "query_filter": query_filter(filters),
                    "with_payload": False,
                    "with_vectors": False,
                },
                stage=Stage.VECTOR,
            )

        try:
            response = yield search(using)
        except Exception:
            # The collection may have been dropped or recreated since its vector name was
            # remembered: read it again and try once more.
            if not r.forget_dense_vector_name(store):
                raise
            using = yield from r.dense_vector_name(store)
            if using is False:
                return []
            response = yield search(using)
        return [(str(p.id), float(p.score)) for p in response.points]

    bm25, vector = yield from _sides(
        r, Work(partial(_bm25_point_hits, r, query.query_str, filters)), vector_hits()
    )
    read_nodes: dict[str, BaseNode] = {}
    if feedback is not None:

        def read(ids: list[str]) -> Plan:
            records = yield ClientCall(
                store.client,
                aclient,
                "retrieve",
                {
                    "collection_name": store.collection_name,
                    "ids": ids,
                    "with_payload": True,
                    "with_vectors": [using] if isinstance(using, str) else True,
                },
                stage=Stage.FUSION,
            )
            nodes = nodes_from_records(records)
            read_nodes.update(nodes)  # the feedback documents are not read again below
            return nodes, _point_vectors(records, using if isinstance(using, str) else None)

        first = FirstPass(
            bm25,
            vector,
            read,
            search_vector=vector_hits,
            bm25_ids=r.point_id,
            overlap=r.overlap,
            bm25_depth=r.bm25_candidates,
        )
        bm25, vector = yield from feedback_lists(
            feedback, r.bm25, query.query_str, embedding, first, fusion_args(r), filters
        )
    with stage(Stage.FUSION):
        fused = fuse_ranked_ids(
            [bm25, vector],
            r.rrf_k,
            r.weights,
            r.similarity_top_k,
            SOURCES,
            r.fusion_method,
        )
    if not fused:
        return []
    nodes = dict(read_nodes)
    unread = [i for i, _, _ in fused if i not in nodes]
    if unread:
        records = yield ClientCall(
            store.client,
            aclient,
            "retrieve",
            {
                "collection_name": store.collection_name,
                "ids": unread,
                "with_payload": True,
                "with_vectors": False,
            },
            stage=Stage.FUSION,
        )
        nodes.update(nodes_from_records(records))
    return [
        annotate(NodeWithScore(node=nodes[i]), FUSION_KEY, {"score": s, "sources": p}, s)
        for i, s, p in fused
        if i in nodes
    ]


def _point_vectors(records: Sequence[models.Record], using: str | None) -> dict[str, list[float]]:
    """Dense vectors returned with the records (named or unnamed)."""
    out: dict[str, list[float]] = {}
    for record in records:
        vector: object = record.vector
        if isinstance(vector, dict):
            vector = vector.get(using or "")
        if isinstance(vector, list) and vector and isinstance(vector[0], float | int):
            out[str(record.id)] = [float(x) for x in vector]
    return out


def _bm25_point_hits(
    r: FusionSettings, query: str, filters: MetadataFilters | None
) -> list[tuple[str, float | None]]:
    if r.bm25 is None:
        return []
    hits = r.bm25.search(query, top_k=r.bm25_candidates, filters=filters)
    return [(r.point_id(node_id), score) for node_id, score in hits]


def _hybrid_query(
    r: FusionSettings, query: QueryBundle, embedding: list[float], filters: MetadataFilters | None
) -> VectorStoreQuery:
    return VectorStoreQuery(
        query_embedding=embedding,
        query_str=query.query_str,
        similarity_top_k=r.vector_candidates,
        sparse_top_k=r.bm25_candidates,
        hybrid_top_k=r.similarity_top_k,
        mode=VectorStoreQueryMode.HYBRID,
        filters=filters,
    )


def store_rrf(
    r: FusionSettings,
    store: CachedQdrantVectorStore,
    query: QueryBundle,
    filters: MetadataFilters | None,
) -> Plan:
    """ragdrop's store fuses inside Qdrant (its own ``rrf_k``, unweighted; query-cached)."""
    embedding = yield from _embedding(r, query)
    result = yield StoreQuery(store, _hybrid_query(r, query, embedding, filters))
    return qdrant_provenance(result)


def qdrant_rrf(
    r: FusionSettings,
    store: QdrantVectorStore,
    sparse_query_fn: SparseEncoder,
    query: QueryBundle,
    filters: MetadataFilters | None,
) -> Plan:
    """One Query API call on a LlamaIndex ``QdrantVectorStore``: dense + sparse prefetches
    fused by Qdrant's RRF (LlamaIndex itself would fuse client-side)."""
    embedding = yield from _embedding(r, query)
    request = qdrant_request(r, store, sparse_query_fn, query.query_str, embedding, filters)
    response = yield ClientCall(store.client, None, "query_points", request, stage=Stage.FUSION)
    return qdrant_provenance(store.parse_to_query_result(response.points))


def qdrant_provenance(result: VectorStoreQueryResult) -> list[NodeWithScore]:
    """New nodes (copies) carrying the Qdrant-fused rank and score as provenance."""
    nodes: Sequence[BaseNode] = result.nodes or []
    similarities = result.similarities or [0.0] * len(nodes)
    return [
        annotate(
            NodeWithScore(node=node),
            FUSION_KEY,
            {"score": score, "sources": {"qdrant": {"rank": rank, "score": score}}},
            score,
        )
        for rank, (node, score) in enumerate(zip(nodes, similarities, strict=True), 1)
    ]


def qdrant_request(
    r: FusionSettings,
    store: QdrantVectorStore,
    sparse_query_fn: SparseEncoder,
    query_str: str,
    embedding: list[float],
    filters: MetadataFilters | None,
) -> dict[str, object]:
    """The ``query_points`` arguments of `qdrant_rrf`: one prefetch per side switched on."""
    flt = query_filter(filters)
    indices, values = sparse_query_fn([query_str])
    prefetch = []
    used: list[float] = []  # one weight per prefetch actually sent
    if r.weights[0] > 0 and indices[0]:
        used.append(r.weights[0])
        prefetch.append(
            models.Prefetch(
                query=models.SparseVector(indices=indices[0], values=values[0]),
                using=store.sparse_vector_name,
                limit=r.bm25_candidates,
                filter=flt,
            )
        )
    if r.weights[1] > 0:
        used.append(r.weights[1])
        prefetch.append(
            models.Prefetch(
                query=embedding,
                using=store.dense_vector_name,
                limit=r.vector_candidates,
                filter=flt,
            )
        )
    weights = None if all(w == 1.0 for w in used) else used
    return {
        "collection_name": store.collection_name,
        "prefetch": prefetch,
        # Qdrant ranks from 0: k + 1 gives the client mode's 1 / (k + rank from 1).
        "query": (
            models.RrfQuery(rrf=models.Rrf(k=int(r.rrf_k) + 1, weights=weights))
            if r.fusion_method == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        ),
        "limit": r.similarity_top_k,
        "with_payload": True,
    }
