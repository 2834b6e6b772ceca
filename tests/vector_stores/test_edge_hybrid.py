"""The hybrid retriever's ``fusion="qdrant"`` mode on Edge: dense + BM25 sparse prefetches
fused by Edge's query API, ranked as on local mode (ragdrop's and LlamaIndex's store)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import Document, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient, models

from ragdrop.qdrant_edge import AsyncEdgeQdrantClient, EdgeQdrantClient
from ragdrop.retrievers import HybridRetriever, bm25_sparse_functions
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration

QUESTIONS = [
    "How does BM25 score documents with term frequency?",
    "vector database written in Rust",
    "how long should dough rise before baking",
]


def _nodes(documents: list[Document]) -> list[TextNode]:
    return [
        TextNode(
            text=d.text, id_=str(uuid.uuid5(uuid.NAMESPACE_URL, d.doc_id)), metadata=d.metadata
        )
        for d in documents
    ]


def _retriever(kind: str, client: Any, documents: list[Document], embed_model: Any) -> Any:
    sparse = bm25_sparse_functions()
    store: Any
    if kind == "llamaindex":
        aclient = AsyncEdgeQdrantClient(client) if isinstance(client, EdgeQdrantClient) else None
        store = QdrantVectorStore(
            collection_name="docs",
            client=client,
            aclient=aclient,
            enable_hybrid=True,
            sparse_config=models.SparseVectorParams(modifier=models.Modifier.IDF),
            **sparse,
        )
    else:
        store = CachedQdrantVectorStore("docs", client=client, enable_hybrid=True, **sparse)
    VectorStoreIndex(
        _nodes(documents),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    return HybridRetriever.from_vector_store(
        store, embed_model=embed_model, fusion="qdrant", similarity_top_k=3
    )


def _ranked(results: list[Any]) -> list[tuple[str, float]]:
    return [(r.node.metadata["topic"], round(float(r.score), 6)) for r in results]


def _same_ranking(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    # DBSF (the default server-side fusion) divides by a standard deviation: the engines
    # agree to float32 rounding, not to the last digit.
    assert [t for t, _ in got] == [t for t, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("kind", ["ragdrop", "llamaindex"])
async def test_qdrant_fusion_on_edge_ranks_like_local_mode(
    kind: str, tmp_path: Path, fixture_documents: list[Document], embed_model: Any
) -> None:
    edge = EdgeQdrantClient(path=tmp_path / "edge")
    local = QdrantClient(":memory:")
    on_edge = _retriever(kind, edge, fixture_documents, embed_model)
    on_local = _retriever(kind, local, fixture_documents, embed_model)
    for question in QUESTIONS:
        got = on_edge.retrieve(question)
        _same_ranking(_ranked(got), _ranked(on_local.retrieve(question)))
        assert "qdrant" in got[0].node.metadata["fusion"]["sources"]
        assert _ranked(await on_edge.aretrieve(question)) == _ranked(got)
    cooking = MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
    filtered = on_edge.with_filters(cooking).retrieve(QUESTIONS[0])
    assert [r.node.metadata["topic"] for r in filtered] == ["cooking"]
    edge.close()
    local.close()
