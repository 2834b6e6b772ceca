"""The feedback pass of `HybridRetriever` as a plan (`plans`): first fusion, RM3, Rocchio.

Shared by the client-side fusion plans (`fusion_plans.client_rrf` on nodes and
`fusion_plans.point_rrf` on Qdrant point ids): each hands over its first-pass lists as
``(id, score)`` pairs and two I/O functions (read the feedback documents' nodes and
vectors; search the vector side with a moved query vector), and receives the two
second-pass lists to fuse. The second BM25 search and the second vector search run
overlapped like the first. RM3 reads a feedback document's terms from the BM25 index
(`BM25Index.term_counts`: what tokenizing its text gives, without tokenizing it again) and
tokenizes only a document the index does not hold. The maths is in
`ragdrop.retrievers.feedback`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.feedback import (
    PseudoRelevanceFeedback,
    agreeing,
    rm3_query,
    rocchio_query,
)
from ragdrop.retrievers.fusion import fused_top
from ragdrop.retrievers.plans import Both, Plan, Retrieve, Work

if TYPE_CHECKING:
    from ragdrop.retrievers.fusion_plans import FusionSettings

Ranked = list[tuple[str, float | None]]
# ids -> plan returning ({id: node}, {id: stored vector}) of those it can read
ReadFeedback = Callable[[list[str]], Plan]
# moved query vector -> plan returning the vector side's new (id, score) list
SearchVector = Callable[[list[float]], Plan]


@dataclass
class FirstPass:
    """What the first pass found and how to read more.

    Args:
        bm25: BM25 ``(id, score)`` best first.
        vector: vector ``(id, score)`` best first.
        read_feedback: reads the feedback documents' nodes and vectors.
        search_vector: searches the vector side again (None: the vector side stays).
        bm25_ids: maps a BM25 hit's node id to the lists' id (point ids in `point_rrf`).
        overlap: run the two second-pass searches concurrently (I/O on the vector side).
        bm25_depth: BM25 candidates of the second pass (the retriever's ``bm25_candidates``).
    """

    bm25: Ranked
    vector: Ranked
    read_feedback: ReadFeedback
    search_vector: SearchVector | None = None
    bm25_ids: Callable[[str], str] = str
    overlap: bool = True
    bm25_depth: int = 100


def feedback_lists(
    settings: PseudoRelevanceFeedback,
    bm25: BM25Retriever | None,
    query_str: str,
    embedding: Sequence[float] | None,
    first: FirstPass,
    fusion: Mapping[str, object],
    filters: MetadataFilters | None,
) -> Plan:
    """The second-pass ``(bm25, vector)`` lists; a side that cannot be refined stays as is.

    Args:
        settings: the feedback settings.
        bm25: the BM25 side (None: no RM3).
        query_str: the query text.
        embedding: the query vector (None: no Rocchio).
        first: the first pass.
        fusion: keyword arguments of `fuse_ranked_ids` (method, k, weights).
        filters: metadata filters of the BM25 second pass.
    """
    top = fused_top(first.bm25, first.vector, settings.docs, fusion)
    agree = agreeing(
        top,
        [i for i, _ in first.bm25],
        [i for i, _ in first.vector],
        depth=settings.agreement_depth,
    )
    if not top or agree < min(settings.min_agreeing, len(top)):
        return first.bm25, first.vector  # not confident: the first pass stands
    nodes, vectors = yield from first.read_feedback(top)
    docs = [nodes[i] for i in top if i in nodes]
    feedback_vectors = [vectors[i] for i in top if i in vectors]
    refine_bm25 = bm25 is not None and settings.term_weight > 0 and bool(docs)
    refine_vector = (
        first.search_vector is not None
        and embedding is not None
        and bool(first.vector)
        and bool(feedback_vectors)
        and settings.vector_weight > 0
    )
    bm25_step = (
        Work(partial(_expanded_search, bm25, query_str, docs, settings, filters, first))
        if refine_bm25 and bm25 is not None
        else None
    )
    vector_plan = None
    if refine_vector and first.search_vector is not None and embedding is not None:
        moved = rocchio_query(embedding, feedback_vectors, settings.vector_weight)
        vector_plan = first.search_vector([float(x) for x in moved])
    if bm25_step is not None and vector_plan is not None:
        return (yield Both(bm25_step, vector_plan, overlap=first.overlap))
    bm25_list = (yield bm25_step) if bm25_step is not None else first.bm25
    vector_list = (yield from vector_plan) if vector_plan is not None else first.vector
    return bm25_list, vector_list


def _expanded_search(
    bm25: BM25Retriever,
    query_str: str,
    docs: list[BaseNode],
    settings: PseudoRelevanceFeedback,
    filters: MetadataFilters | None,
    first: FirstPass,
) -> Ranked:
    index = bm25.index
    tokenizer = index.tokenizer
    counted = [index.term_counts(node.node_id) for node in docs]
    unread = [node for node, counts in zip(docs, counted, strict=True) if counts is None]
    texts = iter(
        tokenizer.tokenize_many([n.get_content(metadata_mode=bm25.metadata_mode) for n in unread])
        if unread
        else ()
    )
    feedback = [next(texts) if counts is None else counts for counts in counted]
    terms = rm3_query(tokenizer(query_str), feedback, settings.terms, settings.term_weight)
    if not terms:
        return first.bm25
    hits = bm25.search(terms, top_k=first.bm25_depth, filters=filters)
    return [(first.bm25_ids(node_id), score) for node_id, score in hits]


class Placeholder(TextNode):
    """Stands for a BM25 hit whose node lives only in the vector store (read after fusion)."""


def node_feedback(
    r: FusionSettings,
    settings: PseudoRelevanceFeedback,
    side: BaseRetriever,
    query: QueryBundle,
    filters: MetadataFilters | None,
    bm25: list[NodeWithScore],
    vector: list[NodeWithScore],
) -> Plan:
    """`feedback_lists` on node lists; returns the second-pass node lists."""
    known = {n.node.node_id: n.node for n in (*bm25, *vector)}

    def read(ids: list[str]) -> Plan:
        nodes = {i: known[i] for i in ids if not isinstance(known.get(i), Placeholder | None)}
        missing = [i for i in ids if i not in nodes]
        if missing and r.bm25 is not None:
            nodes.update((yield Work(partial(r.bm25.get_nodes, missing))))
        if isinstance(side, VectorLookup):
            vectors = side.vectors_of(ids)
        else:
            vectors = {i: n.embedding for i, n in nodes.items() if n.embedding}
        return nodes, vectors

    def search(vector_query: list[float]) -> Plan:
        hits = yield Retrieve(side, QueryBundle(query.query_str, embedding=vector_query))
        known.update((h.node.node_id, h.node) for h in hits if h.node.node_id not in known)
        return [(h.node.node_id, h.score) for h in hits]

    first = FirstPass(
        bm25=[(n.node.node_id, n.score) for n in bm25],
        vector=[(n.node.node_id, n.score) for n in vector],
        read_feedback=read,
        search_vector=search,
        overlap=r.overlap,
        bm25_depth=r.bm25_candidates,
    )
    b2, v2 = yield from feedback_lists(
        settings, r.bm25, query.query_str, query.embedding, first, fusion_args(r), filters
    )
    kept = r.bm25.kept_nodes if r.bm25 is not None else {}
    return (
        [
            NodeWithScore(node=known.get(i) or kept.get(i) or Placeholder(id_=i), score=s)
            for i, s in b2
        ],
        [NodeWithScore(node=known[i], score=s) for i, s in v2],
    )


@runtime_checkable
class VectorLookup(Protocol):
    """A vector retriever that can hand back the stored vectors of its nodes."""

    def vectors_of(self, node_ids: Sequence[str]) -> dict[str, list[float]]: ...


def fusion_args(r: FusionSettings) -> dict[str, object]:
    """The `fuse_ranked_ids` keyword arguments of a retriever's settings."""
    return {"method": r.fusion_method, "k": r.rrf_k, "weights": r.weights}
