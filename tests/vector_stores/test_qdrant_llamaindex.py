"""One-line swap into a LlamaIndex VectorStoreIndex, with the real MiniLM embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex

from ragdrop.cache import CachedEmbedding
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


def test_vector_store_index_round_trip(
    qdrant_client: Any, embed_model: Any, fixture_documents: list[Any], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("docs", client=qdrant_client, cache_dir=tmp_path / "cache")
    embed = CachedEmbedding(embed_model=embed_model, cache_dir=tmp_path / "cache")
    index = VectorStoreIndex.from_documents(
        fixture_documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )
    retriever = index.as_retriever(similarity_top_k=2)
    hits = retriever.retrieve("Which database is written in Rust?")
    assert hits[0].node.ref_doc_id == "qdrant"
    again = retriever.retrieve("Which database is written in Rust?")  # cached end to end
    assert [h.node.node_id for h in again] == [h.node.node_id for h in hits]
    index.delete_ref_doc("qdrant")
    assert all(
        h.node.ref_doc_id != "qdrant"
        for h in retriever.retrieve("Which database is written in Rust?")
    )
