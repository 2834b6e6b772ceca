"""A damaged id map never answers with another document (issue 14): a point whose payload
holds another node than its id says is refused, on every engine and on every read path."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import QueryBundle, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient

from ragdrop.retrievers import BM25Retriever, HybridRetriever
from ragdrop.retrievers.store_reader import fetch_store_nodes
from ragdrop.vector_stores import CachedQdrantVectorStore, EdgeQdrantClient
from ragdrop.vector_stores.points import PointIdentityError, point_id_for

pytestmark = pytest.mark.integration


def _nodes() -> list[TextNode]:
    vectors = {"alpha": [1.0, 0.0, 0.0], "beta": [0.0, 1.0, 0.0], "gamma": [0.0, 0.0, 1.0]}
    return [TextNode(text=f"about {k}", id_=k, embedding=v) for k, v in vectors.items()]


@pytest.fixture(params=["local", "edge"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CachedQdrantVectorStore:
    path = tmp_path / "index"
    client = QdrantClient(path=str(path)) if request.param == "local" else EdgeQdrantClient(path)
    request.addfinalizer(client.close)
    store = CachedQdrantVectorStore("ids", client=client)
    store.add(_nodes())
    return store


def _swap_payloads(store: CachedQdrantVectorStore) -> None:
    """What a reordered id tracker does: alpha's point now carries beta's node."""
    records = store.client.retrieve("ids", ids=[point_id_for("beta")], with_payload=True)
    store.client.overwrite_payload(
        "ids", payload=records[0].payload, points=[point_id_for("alpha")]
    )


def test_intact_index_answers_and_a_swapped_one_refuses(store: CachedQdrantVectorStore) -> None:
    query = VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=1)
    assert store.query(query).ids == ["alpha"]
    _swap_payloads(store)
    with pytest.raises(PointIdentityError, match="id map is damaged"):
        store.query(query)
    with pytest.raises(PointIdentityError):
        fetch_store_nodes(store, ["alpha"])
    retriever = HybridRetriever(
        BM25Retriever(nodes=_nodes()),
        vector_index=VectorStoreIndex.from_vector_store(
            store, embed_model=MockEmbedding(embed_dim=3)
        ),
        weights=(0.0, 1.0),
    )
    with pytest.raises(PointIdentityError):
        retriever.retrieve(QueryBundle("alpha", embedding=[1.0, 0.0, 0.0]))
