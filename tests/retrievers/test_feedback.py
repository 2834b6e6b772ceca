"""Pseudo-relevance feedback: the maths, and what the pass changes (and does not) in a retriever."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import QueryBundle, TextNode
from pydantic import ValidationError
from qdrant_client import QdrantClient

from ragdrop.retrievers import HybridRetriever
from ragdrop.retrievers.bm25.index import BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.dense import ArrayVectorRetriever
from ragdrop.retrievers.feedback import (
    PseudoRelevanceFeedback,
    agreeing,
    cosine_scores,
    rm3_query,
    rocchio_query,
)
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.unit

ALWAYS = PseudoRelevanceFeedback(
    docs=2, terms=5, term_weight=0.5, vector_weight=0.5, min_agreeing=0
)


def test_rm3_keeps_the_query_share_and_adds_the_top_feedback_terms() -> None:
    query = ["solar", "panel"]
    docs = [["solar", "photovoltaic", "cell", "cell"], ["panel", "photovoltaic", "roof"]]
    mixed = rm3_query(query, docs, n_terms=2, term_weight=0.4)
    assert sum(mixed.values()) == pytest.approx(1.0)
    # the query's own terms keep (1 - 0.4) of the mass between them, plus any expansion
    # feedback p(t): photovoltaic (1/4 + 1/3) / 2, cell (1/2 + 0) / 2, the top 2 renormalised
    photovoltaic, cell = (0.25 + 1 / 3) / 2, 0.25
    assert mixed["photovoltaic"] == pytest.approx(0.4 * photovoltaic / (photovoltaic + cell))
    assert "roof" not in mixed  # only the 2 most probable feedback terms
    assert rm3_query([], docs, 2, 0.4) == {}
    assert rm3_query(query, [], 2, 0.4) == {"solar": 0.5, "panel": 0.5}
    assert rm3_query(query, docs, 2, 0.0) == {"solar": 0.5, "panel": 0.5}


def test_rocchio_moves_the_unit_query_toward_the_unit_feedback_mean() -> None:
    moved = rocchio_query([3.0, 0.0], [[0.0, 5.0], [0.0, 1.0]], 0.5)
    assert moved.tolist() == pytest.approx([1.0, 0.5])
    assert rocchio_query([3.0, 0.0], [], 0.5).tolist() == [1.0, 0.0]
    scores = cosine_scores(np.array([1.0, 0.0]), [[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    assert scores == pytest.approx([1.0, 0.0, 0.0])


def test_agreement_counts_ids_high_in_every_ranking() -> None:
    assert agreeing(["a", "b"], ["a", "b"], ["b", "x", "a"], depth=2) == 1
    assert agreeing(["a"], ["a"], [], depth=5) == 0


@pytest.mark.parametrize(
    "bad", [{"docs": 0}, {"terms": True}, {"term_weight": 1.5}, {"vector_weight": -1}]
)
def test_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PseudoRelevanceFeedback(**bad)  # type: ignore[arg-type]


# A corpus where expansion matters: the query names "car"; the relevant "automobile" page
# never says "car", but the two pages both sides agree on share its vocabulary.
TEXTS = {
    "a": "car engine automobile repair garage",
    "b": "car automobile motor vehicle garage",
    "c": "automobile motor vehicle maintenance service",
    "d": "banana fruit smoothie recipe",
    "e": "river boat fishing trip",
}
VECTORS = {
    "a": [1.0, 0.1, 0.0, 0.0],
    "b": [0.9, 0.3, 0.0, 0.0],
    "c": [0.2, 1.0, 0.0, 0.0],
    "d": [0.0, 0.0, 1.0, 0.0],
    "e": [0.0, 0.0, 0.0, 1.0],
}
QUERY = QueryBundle("car", embedding=[1.0, 0.0, 0.0, 0.2])


def nodes() -> list[TextNode]:
    return [TextNode(text=t, id_=i, embedding=VECTORS[i]) for i, t in TEXTS.items()]


def retriever(feedback: PseudoRelevanceFeedback | None) -> HybridRetriever:
    items = nodes()
    return HybridRetriever(
        bm25=BM25Retriever(nodes=items),
        vector_retriever=ArrayVectorRetriever(items, similarity_top_k=5),
        embed_model=MockEmbedding(embed_dim=4),
        similarity_top_k=5,
        bm25_candidates=5,
        vector_candidates=5,
        feedback=feedback,
    )


def test_feedback_brings_in_a_document_the_query_words_miss() -> None:
    without = retriever(None).retrieve(QUERY)
    with_fb = retriever(ALWAYS).retrieve(QUERY)
    sources = {r.node.node_id: r.node.metadata["fusion"]["sources"] for r in with_fb}
    assert "bm25" not in {
        s for r in without if r.node.node_id == "c" for s in r.node.metadata["fusion"]["sources"]
    }
    assert "bm25" in sources["c"]  # found by the expanded BM25 query
    rank = [r.node.node_id for r in with_fb].index("c")
    assert rank < [r.node.node_id for r in without].index("c")


def test_feedback_never_touches_the_callers_nodes() -> None:
    items = nodes()
    before = copy.deepcopy(items)
    HybridRetriever(
        bm25=BM25Retriever(nodes=items),
        vector_retriever=ArrayVectorRetriever(items, similarity_top_k=5),
        feedback=ALWAYS,
    ).retrieve(QUERY)
    assert [n.model_dump() for n in items] == [n.model_dump() for n in before]


def test_without_agreement_the_first_pass_stands() -> None:
    # The sides disagree on everything: BM25 finds only "a", the vector side ranks d, e first.
    query = QueryBundle("engine", embedding=[0.0, 0.0, 1.0, 1.0])
    gated = PseudoRelevanceFeedback(docs=2, min_agreeing=2, agreement_depth=1)
    first = retriever(None).retrieve(query)
    second = retriever(gated).retrieve(query)
    assert [(r.node.node_id, r.score) for r in second] == [(r.node.node_id, r.score) for r in first]


def test_async_equals_sync_with_feedback() -> None:
    r = retriever(ALWAYS)
    sync = [(n.node.node_id, n.score) for n in r.retrieve(QUERY)]
    result = asyncio.run(r.aretrieve(QUERY))
    assert [n.node.node_id for n in result] == [i for i, _ in sync]
    assert [n.score for n in result] == pytest.approx([s for _, s in sync])


class TokenizingIndex(BM25Index):
    """An index that does not hand out term counts: RM3 tokenizes the feedback texts."""

    def term_counts(self, key: str) -> dict[str, int] | None:
        return None


LONG = {
    "a": "Car engines: the car engine of an automobile, repaired in a garage. Engines wear.",
    "b": "A car is an automobile; motor vehicles (cars, vans) are serviced in garages.",
    "c": "Automobile motor vehicle maintenance and service, the motor and the vehicle.",
    "d": "Banana fruit smoothie recipe with banana and fruit.",
    "e": "River boat fishing trip on the river.",
}


@pytest.mark.parametrize("query", ["car", "engine garage", "motor vehicle", "banana"])
def test_rm3_from_the_index_ranks_exactly_like_rm3_from_the_texts(query: str) -> None:
    items = [TextNode(text=t, id_=i, embedding=VECTORS[i]) for i, t in LONG.items()]
    bundle = QueryBundle(query, embedding=QUERY.embedding)

    def ranked(
        index: BM25Index, feedback: PseudoRelevanceFeedback | None = ALWAYS
    ) -> list[tuple[str, float | None]]:
        hybrid = HybridRetriever(
            bm25=BM25Retriever(nodes=items, index=index),
            vector_retriever=ArrayVectorRetriever(items, similarity_top_k=5),
            similarity_top_k=5,
            bm25_candidates=5,
            vector_candidates=5,
            feedback=feedback,
        )
        return [(n.node.node_id, n.score) for n in hybrid.retrieve(bundle)]

    want = ranked(TokenizingIndex())
    assert ranked(BM25Index()) == want  # same ids, same order, bit-equal scores
    assert want != ranked(BM25Index(), None)  # the pass ran: the check compares something


def test_rm3_weights_from_counts_equal_those_from_term_lists() -> None:
    tokenizer = BM25Index().tokenizer
    docs = [tokenizer(text) for text in LONG.values()]
    counted = [{t: doc.count(t) for t in dict.fromkeys(doc)} for doc in docs]
    query = tokenizer("car engine")
    assert rm3_query(query, counted, 8, 0.3) == rm3_query(query, docs, 8, 0.3)


@pytest.mark.integration
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_qdrant_point_path_ranks_like_the_in_process_path(where: str, tmp_path: Path) -> None:
    # UUID ids: the point path maps node ids to Qdrant point ids and back.
    ids = {i: str(uuid.uuid5(uuid.NAMESPACE_URL, i)) for i in TEXTS}
    items = [TextNode(text=t, id_=ids[i], embedding=VECTORS[i]) for i, t in TEXTS.items()]
    client = (
        QdrantClient(location=":memory:") if where == "memory" else QdrantClient(path=str(tmp_path))
    )
    store = CachedQdrantVectorStore("fb", client=client)
    store.add(items)
    embed = MockEmbedding(embed_dim=4)
    common = {"similarity_top_k": 5, "bm25_candidates": 5, "vector_candidates": 5}
    point = HybridRetriever(
        bm25=BM25Retriever(nodes=items),
        vector_index=VectorStoreIndex.from_vector_store(store, embed_model=embed),
        embed_model=embed,
        feedback=ALWAYS,
        **common,
    )
    local = HybridRetriever(
        bm25=BM25Retriever(nodes=items),
        vector_retriever=ArrayVectorRetriever(items, similarity_top_k=5),
        feedback=ALWAYS,
        **common,
    )
    got = [(n.node.node_id, n.score) for n in point.retrieve(QUERY)]
    want = [(n.node.node_id, n.score) for n in local.retrieve(QUERY)]
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
    again = [(n.node.node_id, n.score) for n in asyncio.run(point.aretrieve(QUERY))]
    assert [i for i, _ in again] == [i for i, _ in got]
    client.close()


def test_qdrant_mode_refuses_what_the_query_api_cannot_do() -> None:
    client = QdrantClient(location=":memory:")
    store = CachedQdrantVectorStore("q", client=client, enable_hybrid=True)
    embed = MockEmbedding(embed_dim=4)
    with pytest.raises(ValueError, match="client-side fusion only"):
        HybridRetriever(fusion="qdrant", vector_store=store, embed_model=embed, feedback=ALWAYS)
    with pytest.raises(ValueError, match="no Qdrant Query API equivalent"):
        HybridRetriever(
            fusion="qdrant", vector_store=store, embed_model=embed, fusion_method="minmax"
        )
    with pytest.raises(ValueError, match="hybrid_fusion='rrf'"):
        HybridRetriever(fusion="qdrant", vector_store=store, embed_model=embed, fusion_method="rrf")
    default = HybridRetriever(fusion="qdrant", vector_store=store, embed_model=embed)
    assert default.feedback is None  # the default feedback is client-side only
    client.close()
