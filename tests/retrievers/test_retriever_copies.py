"""Deep copies of BM25Retriever and HybridRetriever, as LlamaIndex may make them."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from llama_index.core.schema import Document, NodeWithScore, TextNode

from ragdrop.retrievers import HybridRetriever
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore

pytestmark = pytest.mark.integration

QUESTION = "how does BM25 score documents?"


def _nodes(documents: list[Document]) -> list[TextNode]:
    return [
        TextNode(
            text=d.text,
            id_=str(uuid.uuid5(uuid.NAMESPACE_URL, d.doc_id)),
            metadata=dict(d.metadata),
        )
        for d in documents
    ]


def _scored(results: list[NodeWithScore]) -> list[tuple[str, float]]:
    return [(r.node.node_id, round(float(r.score or 0.0), 6)) for r in results]


def test_a_bm25_copy_is_independent(fixture_documents: list[Document]) -> None:
    nodes = _nodes(fixture_documents)
    bm25 = BM25Retriever(nodes=nodes[:3], similarity_top_k=3)
    twin = copy.deepcopy(bm25)
    assert _scored(twin.retrieve(QUESTION)) == _scored(bm25.retrieve(QUESTION))
    twin.add_nodes(nodes[3:])  # the copy's index is its own
    assert len(twin.retrieve("bread flour yeast")) > len(bm25.retrieve("bread flour yeast"))
    assert twin.index.tokenizer == bm25.index.tokenizer


def test_a_hybrid_copy_shares_its_indexes_and_answers_the_same(
    fixture_documents: list[Document], embed_model: Any
) -> None:
    hybrid = HybridRetriever.from_nodes(
        _nodes(fixture_documents), embed_model=embed_model, similarity_top_k=3
    )
    twin = copy.deepcopy(hybrid)
    assert twin.bm25 is hybrid.bm25 and twin.vector_index is hybrid.vector_index
    assert _scored(twin.retrieve(QUESTION)) == _scored(hybrid.retrieve(QUESTION))
    twin.similarity_top_k = 1  # settings are the copy's own
    assert len(twin.retrieve(QUESTION)) == 1 and len(hybrid.retrieve(QUESTION)) == 3


async def test_a_hybrid_copy_over_ragdrops_store_follows_its_writes(
    fixture_documents: list[Document], embed_model: Any, qdrant_memory: Any
) -> None:
    nodes = _nodes(fixture_documents)
    for node in nodes:
        node.embedding = embed_model.get_text_embedding(node.get_content())
    store = CachedQdrantVectorStore("docs", client=qdrant_memory)
    store.add(nodes[:3])
    hybrid = HybridRetriever.from_vector_store(store, embed_model=embed_model, similarity_top_k=3)
    twin = copy.deepcopy(hybrid)
    store.add(nodes[3:])
    bread = "how long does bread dough rise?"
    assert twin.retrieve(bread)[0].node.metadata["topic"] == "cooking"  # written after the copy
    assert _scored(twin.retrieve(bread)) == _scored(hybrid.retrieve(bread))
    assert _scored(await twin.aretrieve(bread)) == _scored(hybrid.retrieve(bread))
