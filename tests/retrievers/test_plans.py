"""Query plans: one logic, two drivers; every hybrid mode answers the same sync and async."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import Document, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from qdrant_client import QdrantClient

from ragdrop.retrievers import BM25Retriever, HybridRetriever
from ragdrop.retrievers.plans import Both, Plan, Work, run_async, run_sync
from ragdrop.vector_stores import CachedQdrantVectorStore

QUESTION = "How does BM25 score documents with term frequency?"


def _threads() -> Plan:
    here, there = yield Both(
        Work(lambda: threading.current_thread().name),
        Work(lambda: threading.current_thread().name),
        overlap=True,
    )
    return here, there


@pytest.mark.unit
def test_overlapped_part_runs_in_the_executor_and_sequential_without_one() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="plan-test") as pool:
        here, there = run_sync(_threads(), pool)
    assert here == threading.current_thread().name
    assert there.startswith("plan-test")
    here, there = run_sync(_threads(), None)
    assert here == there == threading.current_thread().name


def _failing() -> Plan:
    try:
        yield Work(lambda: 1 / 0)
    except ZeroDivisionError:
        value = yield Work(lambda: "recovered")
        return value
    return "not reached"


def _nested() -> Plan:
    def inner() -> Plan:
        a = yield Work(lambda: 2)
        return a * 10

    first, second = yield Both(Work(lambda: 1), inner(), overlap=True)
    return first + second


@pytest.mark.unit
async def test_both_drivers_give_the_same_results_and_errors() -> None:
    with ThreadPoolExecutor(2) as pool:
        assert run_sync(_failing(), pool) == await run_async(_failing()) == "recovered"
        assert run_sync(_nested(), pool) == await run_async(_nested()) == 21


def _nodes(documents: list[Document]) -> list[TextNode]:
    return [
        TextNode(
            text=d.text, id_=str(uuid.uuid5(uuid.NAMESPACE_URL, d.doc_id)), metadata=d.metadata
        )
        for d in documents
    ]


@pytest.fixture()
def qdrant_index(
    fixture_documents: list[Document], embed_model: Any
) -> Iterator[tuple[VectorStoreIndex, list[TextNode]]]:
    client = QdrantClient(":memory:")
    store = CachedQdrantVectorStore("plans", client=client)
    nodes = _nodes(fixture_documents)
    index = VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    yield index, nodes
    client.close()


def _pairs(results: list[NodeWithScore]) -> list[tuple[str, float | None]]:
    return [(r.node.node_id, r.score) for r in results]


@pytest.mark.integration
@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
async def test_point_fusion_sides_sync_equals_async(
    qdrant_index: tuple[VectorStoreIndex, list[TextNode]],
    embed_model: Any,
    weights: tuple[float, float],
) -> None:
    index, nodes = qdrant_index
    retriever = HybridRetriever(
        BM25Retriever(nodes=nodes),
        vector_index=index,
        embed_model=embed_model,
        weights=weights,
        similarity_top_k=3,
    )
    sync = retriever.retrieve(QUESTION)
    assert sync, "each side alone still answers"
    assert _pairs(await retriever.aretrieve(QUESTION)) == _pairs(sync)
    sides = {name for r in sync for name in r.node.metadata["fusion"]["sources"]}
    expected = {name for name, w in zip(("bm25", "vector"), weights, strict=True) if w > 0}
    assert sides == expected
    # The id-only Qdrant path ranks exactly like the general path over the same index.
    general = HybridRetriever(
        BM25Retriever(nodes=nodes),
        vector_retriever=index.as_retriever(similarity_top_k=100),
        weights=weights,
        similarity_top_k=3,
    )
    assert [r.node.node_id for r in general.retrieve(QUESTION)] == [r.node.node_id for r in sync]


@pytest.mark.integration
def test_point_fusion_applies_filters_to_both_sides(
    qdrant_index: tuple[VectorStoreIndex, list[TextNode]], embed_model: Any
) -> None:
    index, nodes = qdrant_index
    retriever = HybridRetriever(
        BM25Retriever(nodes=nodes), vector_index=index, embed_model=embed_model
    )
    cooking = MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
    results = retriever.with_filters(cooking).retrieve(QUESTION + " bread")
    assert results and {r.node.metadata["topic"] for r in results} == {"cooking"}
    assert retriever.filters is None


@pytest.mark.integration
def test_without_an_embed_model_the_index_embeds_the_query(
    qdrant_index: tuple[VectorStoreIndex, list[TextNode]], embed_model: Any
) -> None:
    index, nodes = qdrant_index
    with_model = HybridRetriever(
        BM25Retriever(nodes=nodes), vector_index=index, embed_model=embed_model
    )
    without = HybridRetriever(BM25Retriever(nodes=nodes), vector_index=index)
    expected = [r.node.node_id for r in with_model.retrieve(QUESTION)]
    assert [r.node.node_id for r in without.retrieve(QUESTION)] == expected
    bundle = QueryBundle(QUESTION, embedding=embed_model.get_query_embedding(QUESTION))
    assert [r.node.node_id for r in without.retrieve(bundle)] == expected
