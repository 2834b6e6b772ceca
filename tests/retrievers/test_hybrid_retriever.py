from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import Document, NodeWithScore, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import models

from ragdrop.observability.stages import record_stages
from ragdrop.retrievers import HybridRetriever, bm25_sparse_functions
from ragdrop.retrievers import store_sync as store_sync_mod
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.fusion_plans import qdrant_request
from ragdrop.retrievers.store_sync import index_point_ids, load_or_build_bm25, store_point_ids

pytestmark = pytest.mark.integration

QUESTION = "How does BM25 score documents with term frequency?"


def as_nodes(documents: list[Document]) -> list[TextNode]:
    # One node per fixture document (they are short); UUID ids as Qdrant needs them.
    return [
        TextNode(
            text=d.text,
            id_=str(uuid.uuid5(uuid.NAMESPACE_URL, d.doc_id)),
            metadata=dict(d.metadata),
        )
        for d in documents
    ]


def topic(value: str) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key="topic", value=value)])


def ids(results: list[NodeWithScore]) -> list[str]:
    """The fixture document (its topic) of each result."""
    return [r.node.metadata["topic"] for r in results]


@pytest.fixture(scope="module")
def hybrid(fixture_documents: list[Document], embed_model: Any) -> HybridRetriever:
    return HybridRetriever.from_nodes(
        as_nodes(fixture_documents), embed_model=embed_model, similarity_top_k=3
    )


def test_fuses_both_sides_with_provenance_and_stage_timings(hybrid: HybridRetriever) -> None:
    with record_stages() as times:
        results = hybrid.retrieve(QUESTION)
    assert ids(results)[0] == "bm25"
    fusion = results[0].node.metadata["fusion"]
    assert set(fusion["sources"]) == {"bm25", "vector"}
    assert fusion["sources"]["bm25"]["rank"] == 1
    assert results[0].score == pytest.approx(fusion["score"])
    assert {"bm25", "vector", "fusion"} <= set(times)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
def test_filters_apply_to_both_sides(hybrid: HybridRetriever, weights: tuple[float, float]) -> None:
    view = hybrid.with_filters(topic("cooking"))
    view.weights = weights
    results = view.retrieve(QUESTION + " bread")
    assert results, "the allowed document must still be found"
    assert set(ids(results)) == {"cooking"}
    assert hybrid.filters is None


def test_weight_zero_removes_a_side(hybrid: HybridRetriever) -> None:
    view = hybrid.with_filters(None)
    view.weights = (0.0, 1.0)
    for r in view.retrieve(QUESTION):
        assert set(r.node.metadata["fusion"]["sources"]) == {"vector"}


async def test_async_equals_sync(hybrid: HybridRetriever) -> None:
    sync = hybrid.retrieve(QUESTION)
    results = await hybrid.aretrieve(QUESTION)
    assert [(r.node.node_id, r.score) for r in results] == [(r.node.node_id, r.score) for r in sync]
    many = await asyncio.gather(*(hybrid.aretrieve(QUESTION) for _ in range(4)))
    assert all(ids(m) == ids(sync) for m in many)


def test_empty_query_returns_nothing(hybrid: HybridRetriever) -> None:
    assert hybrid.retrieve("   ") == []


def test_invalid_arguments(hybrid: HybridRetriever) -> None:
    bm25 = BM25Retriever()
    with pytest.raises(ValueError, match="fusion must be one of"):
        HybridRetriever(bm25, hybrid.vector_retriever, vector_index=hybrid.vector_index, fusion="x")
    with pytest.raises(ValueError, match="weights"):
        HybridRetriever(bm25, vector_index=hybrid.vector_index, weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="bm25_candidates"):
        HybridRetriever(bm25, vector_index=hybrid.vector_index, bm25_candidates=0)
    with pytest.raises(ValueError, match="needs vector_retriever"):
        HybridRetriever(bm25)
    with pytest.raises(ValueError, match="fusion='qdrant' needs"):
        HybridRetriever(fusion="qdrant")


def store_index(
    client: Any, documents: list[Document], embed_model: Any, **store_kw: Any
) -> tuple[QdrantVectorStore, VectorStoreIndex]:
    store = QdrantVectorStore(collection_name="docs", client=client, **store_kw)
    index = VectorStoreIndex(
        as_nodes(documents),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    return store, index


def llamaindex_hybrid_store(
    client: Any, documents: list[Document], embed_model: Any
) -> QdrantVectorStore:
    """LlamaIndex's hybrid Qdrant store with our BM25 sparse vectors, holding ``documents``."""
    store = QdrantVectorStore(
        collection_name="docs",
        client=client,
        enable_hybrid=True,
        sparse_config=models.SparseVectorParams(modifier=models.Modifier.IDF),
        **bm25_sparse_functions(),
    )
    VectorStoreIndex(
        as_nodes(documents),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    return store


def test_from_vector_store_builds_bm25_from_payloads_and_persists(
    qdrant_client: Any, fixture_documents: list[Document], embed_model: Any, tmp_path: Path
) -> None:
    store, _ = store_index(qdrant_client, fixture_documents, embed_model)
    retriever = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, persist_dir=tmp_path / "bm25", similarity_top_k=2
    )
    assert len(retriever.bm25.index) == len(fixture_documents)
    results = retriever.retrieve(QUESTION)
    assert ids(results)[0] == "bm25"
    assert set(results[0].node.metadata["fusion"]["sources"]) == {"bm25", "vector"}
    filtered = retriever.with_filters(topic("qdrant")).retrieve(QUESTION)
    assert ids(filtered) == ["qdrant"]
    again = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, persist_dir=tmp_path / "bm25", similarity_top_k=2
    )
    assert (tmp_path / "bm25" / "index" / "header.json").exists()
    assert ids(again.retrieve(QUESTION)) == ids(results)


def test_cached_store_writes_keep_bm25_in_step(
    qdrant_memory: Any, fixture_documents: list[Document], embed_model: Any, tmp_path: Path
) -> None:
    store_mod = pytest.importorskip("ragdrop.vector_stores.qdrant")
    store = store_mod.CachedQdrantVectorStore("docs", client=qdrant_memory)
    index = VectorStoreIndex(
        as_nodes(fixture_documents[:3]),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    retriever = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, persist_dir=tmp_path / "bm25", similarity_top_k=3
    )
    assert len(retriever.bm25.index) == 3
    extra = TextNode(
        text="Sourdough bread rises slowly with wild yeast.",
        id_=str(uuid.uuid4()),
        metadata={"topic": "baking"},
    )
    index.insert_nodes([extra])
    assert extra.node_id in retriever.bm25.index
    bm25_only = retriever.with_filters(topic("baking"))
    bm25_only.weights = (1.0, 0.0)
    assert ids(bm25_only.retrieve("sourdough yeast")) == ["baking"]
    store.delete_nodes([extra.node_id])
    assert extra.node_id not in retriever.bm25.index
    assert bm25_only.retrieve("sourdough yeast") == []


def test_bm25_follows_a_restore_from_backup(
    qdrant_memory: Any, fixture_documents: list[Document], embed_model: Any, tmp_path: Path
) -> None:
    store_mod = pytest.importorskip("ragdrop.vector_stores.qdrant")
    store = store_mod.CachedQdrantVectorStore("docs", client=qdrant_memory)
    nodes = as_nodes(fixture_documents)
    VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    retriever = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, persist_dir=tmp_path / "bm25", similarity_top_k=3
    )
    store.backup(tmp_path / "backup")
    store.delete_nodes([nodes[0].node_id])
    assert nodes[0].node_id not in retriever.bm25.index
    store.restore(tmp_path / "backup")
    assert nodes[0].node_id in retriever.bm25.index
    assert len(retriever.bm25.index) == len(nodes)


@pytest.mark.parametrize("store_kind", ["llamaindex", "ragdrop"])
def test_qdrant_fusion_mode(
    store_kind: str, qdrant_client: Any, fixture_documents: list[Document], embed_model: Any
) -> None:
    sparse = bm25_sparse_functions()
    if store_kind == "llamaindex":
        store = QdrantVectorStore(
            collection_name="docs",
            client=qdrant_client,
            enable_hybrid=True,
            sparse_config=models.SparseVectorParams(modifier=models.Modifier.IDF),
            **sparse,
        )
    else:
        store_mod = pytest.importorskip("ragdrop.vector_stores.qdrant")
        store = store_mod.CachedQdrantVectorStore(
            "docs", client=qdrant_client, enable_hybrid=True, **sparse
        )
    VectorStoreIndex(
        as_nodes(fixture_documents),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    retriever = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, fusion="qdrant", similarity_top_k=3
    )
    results = retriever.retrieve(QUESTION)
    assert ids(results)[0] == "bm25"
    assert "qdrant" in results[0].node.metadata["fusion"]["sources"]
    assert ids(retriever.with_filters(topic("cooking")).retrieve(QUESTION)) == ["cooking"]


async def test_qdrant_fusion_mode_async(
    qdrant_memory: Any, fixture_documents: list[Document], embed_model: Any
) -> None:
    store = llamaindex_hybrid_store(qdrant_memory, fixture_documents, embed_model)
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed_model, fusion="qdrant")
    sync = retriever.retrieve(QUESTION)
    results = await retriever.aretrieve(QUESTION)
    assert ids(results) == ids(sync)


def test_persisted_bm25_with_same_count_but_other_ids_is_rebuilt(
    qdrant_memory: Any,
    fixture_documents: list[Document],
    embed_model: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _ = store_index(qdrant_memory, fixture_documents, embed_model)
    stored = {n.node_id for n in as_nodes(fixture_documents)}
    persist_dir = tmp_path / "bm25"
    # A stale generation: as many documents as the store holds, but other ids.
    stale = [TextNode(text=f"stale chunk {i}", id_=str(uuid.uuid4())) for i in range(len(stored))]
    BM25Retriever(nodes=stale, keep_nodes=False).persist(persist_dir)
    bm25 = load_or_build_bm25(store, persist_dir)
    assert set(bm25.index.ids) == stored
    assert set(BM25Retriever.from_persist_dir(persist_dir).index.ids) == stored

    # An index over exactly the store's points is reused, not rebuilt.
    def no_rebuild(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a matching persisted index was rebuilt")

    monkeypatch.setattr(store_sync_mod, "_add_store_nodes", no_rebuild)
    assert set(load_or_build_bm25(store, persist_dir).index.ids) == stored


def test_store_point_ids_map_non_uuid_node_ids(
    qdrant_memory: Any, fixture_documents: list[Document], embed_model: Any
) -> None:
    store_mod = pytest.importorskip("ragdrop.vector_stores.qdrant")
    store = store_mod.CachedQdrantVectorStore("docs", client=qdrant_memory)
    nodes = [
        TextNode(text=d.text, id_=f"chunk-{i}", metadata=dict(d.metadata))
        for i, d in enumerate(fixture_documents)
    ]
    VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
    )
    assert store_point_ids(store) == index_point_ids(n.node_id for n in nodes)
    assert store_point_ids(store) != index_point_ids(f"other-{i}" for i in range(len(nodes)))


def test_qdrant_fusion_weights_follow_the_prefetches_sent(
    qdrant_memory: Any, fixture_documents: list[Document], embed_model: Any
) -> None:
    store = llamaindex_hybrid_store(qdrant_memory, fixture_documents, embed_model)
    retriever = HybridRetriever.from_vector_store(
        store, embed_model=embed_model, fusion="qdrant", weights=(2.0, 1.0), fusion_method="rrf"
    )
    # Only stopwords: no BM25 terms, so only the dense prefetch is sent, with one weight.
    request = qdrant_request(
        retriever,
        store,
        bm25_sparse_functions()["sparse_query_fn"],
        "the of and",
        [0.1] * 384,
        None,
    )
    assert len(request["prefetch"]) == 1
    assert request["query"].rrf.weights is None
    assert retriever.retrieve("the of and")
