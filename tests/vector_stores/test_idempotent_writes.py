"""Idempotent writes (issue 16, item 2): the store upserts the way LlamaIndex's
``QdrantVectorStore`` does, and BM25 following the store holds exactly the store's nodes.

Run on Qdrant ``:memory:``, an on-disk local-mode path and Qdrant Edge.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DIM, make_nodes
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.qdrant import QdrantVectorStore

from ragdrop.node_parsers import FixedSizeNodeParser
from ragdrop.retrievers import HybridRetriever
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.store_sync import load_or_build_bm25
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


def _add(store: CachedQdrantVectorStore, nodes: list[TextNode], mode: str) -> list[str]:
    if mode == "sync":
        return store.add(nodes)
    return asyncio.run(store.async_add(nodes))


def _twin(node: TextNode, text: str, seed: int) -> TextNode:
    """``node``'s id with another text, metadata and embedding."""
    vector = np.random.default_rng(seed).normal(size=DIM)
    return node.model_copy(
        update={
            "text": text,
            "metadata": {**node.metadata, "colour": "violet", "version": seed},
            "embedding": (vector / np.linalg.norm(vector)).tolist(),
        },
        deep=True,
    )


def _count(qdrant: Any, name: str) -> int:
    return int(qdrant.count(collection_name=name, exact=True).count)


def _stored(store: CachedQdrantVectorStore) -> dict[str, BaseNode]:
    return {n.node_id: n for n in store.get_nodes()}


def _parser() -> FixedSizeNodeParser:
    return FixedSizeNodeParser(chunk_size=80, size_unit="characters")


def _same_bm25(followed: BM25Retriever, store: CachedQdrantVectorStore) -> None:
    """``followed`` indexes exactly the store's nodes: the same ids, and the same scores as
    an index built fresh from the store's payloads for every stored text as the query."""
    fresh = load_or_build_bm25(store, None)
    assert sorted(followed.index.ids) == sorted(fresh.index.ids) == sorted(_stored(store))
    for node in _stored(store).values():
        text = node.get_content()
        assert dict(followed.search(text, top_k=50)) == pytest.approx(
            dict(fresh.search(text, top_k=50))
        )


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("twin_last", [True, False])
def test_duplicates_in_one_add_keep_the_last(client: Any, mode: str, twin_last: bool) -> None:
    store = CachedQdrantVectorStore("dups", client=client, batch_size=2)
    nodes = make_nodes(6)
    twin = _twin(nodes[1], "the replacement passage about quokkas", seed=99)
    batch = [*nodes, twin] if twin_last else [twin, *nodes]
    assert _add(store, batch, mode) == [n.node_id for n in batch]  # one id per node given
    assert _count(client, "dups") == 6
    kept = twin if twin_last else nodes[1]
    got = _stored(store)["node-1"]
    assert got.get_content() == kept.get_content()
    assert got.metadata == kept.metadata
    hit = store.query(VectorStoreQuery(query_embedding=kept.embedding, similarity_top_k=1))
    assert hit.ids == ["node-1"] and hit.similarities[0] == pytest.approx(1.0, abs=1e-5)
    assert hit.nodes[0].get_content() == kept.get_content()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bm25_following_the_store_holds_its_nodes(client: Any, embed_model: Any, mode: str) -> None:
    store = CachedQdrantVectorStore("bm25", client=client)
    nodes = make_nodes(9)
    store.add(nodes)
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed_model)
    followed = retriever.bm25
    assert followed is not None
    first = _twin(nodes[2], "walrus walrus tusks", seed=1)
    last = _twin(nodes[2], "quokka smiles quokka", seed=2)
    _add(store, [first, *make_nodes(12)[9:], first, last], mode)
    assert followed.search("walrus") == []
    assert [i for i, _ in followed.search("quokka")] == ["node-2"]
    _same_bm25(followed, store)
    assert _count(client, "bm25") == 12


def test_from_documents_with_a_document_twice(
    client: Any, embed_model: Any, fixture_documents: list[Document]
) -> None:
    store = CachedQdrantVectorStore("docs", client=client)
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed_model)
    index = VectorStoreIndex.from_documents(
        [*fixture_documents, fixture_documents[0]],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
        transformations=[_parser()],
    )
    expected = {n.node_id for n in _parser().get_nodes_from_documents(fixture_documents)}
    assert set(_stored(store)) == expected
    assert _count(client, "docs") == len(expected)
    hits = index.as_retriever(similarity_top_k=3).retrieve("Which database is written in Rust?")
    assert len({h.node.node_id for h in hits}) == 3  # no copies of one chunk
    assert retriever.bm25 is not None
    _same_bm25(retriever.bm25, store)


def test_re_adding_a_document_replaces_its_nodes(
    client: Any, embed_model: Any, fixture_documents: list[Document], tmp_path: Path
) -> None:
    store = CachedQdrantVectorStore("redo", client=client, cache_dir=tmp_path / "cache")
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed_model)
    assert retriever.bm25 is not None
    index = VectorStoreIndex.from_documents(
        fixture_documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
        transformations=[_parser()],
    )
    before = _stored(store)
    index.insert(fixture_documents[1])  # the same document again: the same node ids
    assert set(_stored(store)) == set(before)
    assert _count(client, "redo") == len(before)

    question = "Which database is written in Rust?"
    vector_retriever = index.as_retriever(similarity_top_k=1)
    assert vector_retriever.retrieve(question)[0].node.ref_doc_id == "qdrant"  # now cached
    changed = Document(
        text="Qdrant, rewritten: a search engine for embeddings, in Rust, with quokka mascots.",
        id_="qdrant",
        metadata=fixture_documents[0].metadata,
    )
    index.update_ref_doc(changed)  # LlamaIndex's replace: delete(ref_doc_id), then add
    new_ids = {n.node_id for n in _parser().get_nodes_from_documents([changed])}
    of_doc = {i for i, n in _stored(store).items() if n.ref_doc_id == "qdrant"}
    assert of_doc == new_ids  # no stale chunk of the old text
    top = vector_retriever.retrieve(question)[0].node
    assert top.node_id in new_ids and "quokka" in top.get_content()  # not the cached answer
    _same_bm25(retriever.bm25, store)

    again = Document(text=changed.text + " It has snapshots.", id_="qdrant")
    index.refresh_ref_docs([again, fixture_documents[2]])  # only the changed one is redone
    new_ids = {n.node_id for n in _parser().get_nodes_from_documents([again])}
    assert {i for i, n in _stored(store).items() if n.ref_doc_id == "qdrant"} == new_ids
    _same_bm25(retriever.bm25, store)


def test_insert_of_a_changed_document_matches_llamaindex_qdrant_store(
    qdrant_memory: Any, embed_model: Any, fixture_documents: list[Document]
) -> None:
    """``insert`` upserts by node id and deletes nothing, in both stores: chunks whose ids
    changed stay until ``update_ref_doc``/``delete_ref_doc`` (the rule in `writes`)."""
    changed = Document(text=fixture_documents[0].text + " It has snapshots.", id_="qdrant")
    held = []
    for store in (
        CachedQdrantVectorStore("ours", client=qdrant_memory),
        QdrantVectorStore(collection_name="theirs", client=qdrant_memory),
    ):
        index = VectorStoreIndex.from_documents(
            fixture_documents,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed_model,
            transformations=[_parser()],
        )
        index.insert(changed)
        index.insert(changed)
        held.append({n.node_id for n in store.get_nodes()})
    assert held[0] == held[1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_query_cache_never_serves_the_superseded_node(
    client: Any, tmp_path: Path, mode: str
) -> None:
    store = CachedQdrantVectorStore("cached", client=client, cache_dir=tmp_path / "cache")
    nodes = make_nodes(8)
    store.add(nodes)
    query = VectorStoreQuery(query_embedding=nodes[3].embedding, similarity_top_k=3)
    old = store.query(query)
    assert store.query(query).ids == old.ids  # served from the cache
    twin = _twin(nodes[3], "superseded text is gone", seed=7)
    _add(store, [twin, nodes[5], twin], mode)
    new = store.query(query)
    for node, score in zip(new.nodes, new.similarities or [], strict=True):
        if node.node_id == "node-3":  # its vector moved away: no longer an exact match
            assert node.get_content() == twin.get_content() and score < 0.99
    fresh = store.query(VectorStoreQuery(query_embedding=twin.embedding, similarity_top_k=1))
    assert fresh.ids == ["node-3"] and fresh.nodes[0].get_content() == twin.get_content()
    assert fresh.nodes[0].metadata["colour"] == "violet"


def test_two_spellings_of_one_uuid_are_one_point(client: Any, embed_model: Any) -> None:
    """Point ids are UUIDs: two spellings of one UUID are one point, so the last one wins,
    in the collection and in BM25 alike."""
    store = CachedQdrantVectorStore("spell", client=client)
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed_model)
    assert retriever.bm25 is not None
    base = make_nodes(3)
    upper = _twin(base[0], "upper case walrus", seed=3)
    upper.id_ = "6F1B0C51-52F4-4D8F-9A57-4C0D3B8A7E21"
    lower = _twin(base[0], "lower case quokka", seed=4)
    lower.id_ = upper.id_.lower()
    store.add([upper, *base[1:], lower])
    assert _count(client, "spell") == 3
    assert set(_stored(store)) == {lower.node_id, "node-1", "node-2"}
    _same_bm25(retriever.bm25, store)
