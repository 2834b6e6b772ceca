"""The hybrid's fused results cached under the store's epoch (issue 16, item 6).

Real Qdrant local mode and Qdrant Edge on disk, a real diskcache directory and the real
MiniLM model behind a counting `BaseEmbedding` subclass (a hit must not embed the question).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from pydantic import PrivateAttr
from qdrant_client import QdrantClient

from ragdrop.observability import stages
from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.retrievers import HybridRetriever
from ragdrop.retrievers.result_cache import CACHE_LABEL, FusedResultCache
from ragdrop.vector_stores import AsyncEdgeQdrantClient, CachedQdrantVectorStore, EdgeQdrantClient
from ragdrop.vector_stores.calls import client_scope

pytestmark = pytest.mark.integration

QUESTION = "How does BM25 score documents with term frequency?"


class CountingEmbedding(BaseEmbedding):
    """A real embedding model (the session's MiniLM) that counts the questions it embeds."""

    _inner: BaseEmbedding = PrivateAttr()
    _queries: int = PrivateAttr(default=0)

    def __init__(self, inner: BaseEmbedding) -> None:
        super().__init__(model_name="counting-minilm")
        self._inner = inner

    @property
    def queries(self) -> int:
        return self._queries

    def _get_query_embedding(self, query: str) -> Embedding:
        self._queries += 1
        return self._inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._inner.get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._inner.get_text_embedding_batch(texts)


class Setup:
    """A store with a query cache, its index, a hybrid retriever over it and the model."""

    def __init__(self, client: Any, aclient: Any, cache_dir: Path, embed: CountingEmbedding):
        self.client, self.cache_dir, self.embed = client, cache_dir, embed
        self.store = CachedQdrantVectorStore(
            "docs", client=client, aclient=aclient, cache_dir=cache_dir
        )
        self.index = VectorStoreIndex(
            [], storage_context=StorageContext.from_defaults(vector_store=self.store),
            embed_model=embed,
        )  # fmt: skip

    def retriever(self, **kwargs: Any) -> HybridRetriever:
        kwargs.setdefault("similarity_top_k", 3)
        return HybridRetriever.from_vector_store(self.store, embed_model=self.embed, **kwargs)


def make_nodes(documents: list[Document]) -> list[TextNode]:
    nodes = []
    for d in documents:
        node = TextNode(
            text=d.text, id_=str(uuid.uuid5(uuid.NAMESPACE_URL, d.doc_id)), metadata=d.metadata
        )
        node.relationships[NodeRelationship.SOURCE] = d.as_related_node_info()
        nodes.append(node)
    return nodes


@pytest.fixture(params=["local", "edge"])
def setup(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embed_model: Any,
    fixture_documents: list[Document],
) -> Iterator[Setup]:
    if request.param == "edge":
        client: Any = EdgeQdrantClient(path=tmp_path / "edge")
        aclient: Any = AsyncEdgeQdrantClient(client)
    else:
        client, aclient = QdrantClient(path=str(tmp_path / "qdrant")), None
    s = Setup(client, aclient, tmp_path / "cache", CountingEmbedding(embed_model))
    s.index.insert_nodes(make_nodes(fixture_documents))
    yield s
    client.close()


@pytest.fixture()
def fused_events() -> Iterator[list[str]]:
    """``hit``/``miss`` of every fused-result lookup, in order."""
    seen: list[str] = []

    def listen(kind: str, name: str, value: float, label: str) -> None:
        if kind == "count" and label == CACHE_LABEL:
            seen.append(name.removeprefix("cache_"))

    stages.add_measure_listener(listen)
    yield seen
    stages.remove_measure_listener(listen)


def as_data(results: list[NodeWithScore]) -> list[tuple[Any, ...]]:
    return [(r.node.node_id, r.score, r.node.to_dict()) for r in results]


def topics(results: list[NodeWithScore]) -> list[str]:
    return [r.node.metadata["topic"] for r in results]


def test_repeat_is_served_from_cache_without_embedding(
    setup: Setup, fused_events: list[str]
) -> None:
    retriever = setup.retriever()
    first = retriever.retrieve(QUESTION)
    embedded = setup.embed.queries
    assert embedded >= 1
    again = retriever.retrieve(QUESTION)
    assert setup.embed.queries == embedded, "a hit must not embed the question"
    assert fused_events == ["miss", "hit"]
    assert as_data(again) == as_data(first)
    assert topics(first)[0] == "bm25"
    assert set(first[0].node.metadata["fusion"]["sources"]) == {"bm25", "vector"}


def test_cached_results_equal_the_uncached_path(setup: Setup) -> None:
    cached, uncached = setup.retriever(), setup.retriever(cache_results=False)
    for question in (QUESTION, "How is bread baked?", "what does a cross-encoder do"):
        expected = as_data(uncached.retrieve(question))
        assert as_data(cached.retrieve(question)) == expected  # miss, stored
        assert as_data(cached.retrieve(question)) == expected  # hit
    before = setup.embed.queries
    uncached.retrieve(QUESTION)
    assert setup.embed.queries == before + 1, "cache_results=False embeds every time"


@pytest.mark.parametrize("write", ["add", "delete", "delete_nodes", "clear"])
def test_every_write_through_the_store_invalidates(setup: Setup, write: str) -> None:
    retriever = setup.retriever()
    first = retriever.retrieve(QUESTION)
    top = first[0].node
    if write == "add":
        extra = TextNode(
            text="BM25 scores documents by term frequency, document frequency and length.",
            id_=str(uuid.uuid4()),
            metadata={"topic": "bm25-extra"},
        )
        setup.index.insert_nodes([extra])
    elif write == "delete":
        assert top.ref_doc_id is not None
        setup.store.delete(top.ref_doc_id)
    elif write == "delete_nodes":
        setup.store.delete_nodes([top.node_id])
    else:
        epoch = setup.store.cache_epoch()
        setup.store.clear()
        assert setup.store.cache_epoch() != epoch
        # the same retriever: it reads the dropped collection's layout again
        assert retriever.retrieve(QUESTION) == []
        assert setup.retriever().retrieve(QUESTION) == []
        return
    embedded = setup.embed.queries
    after = retriever.retrieve(QUESTION)
    assert setup.embed.queries == embedded + 1, "a write must make the next question a miss"
    if write == "add":
        assert "bm25-extra" in topics(after)
    else:
        assert top.node_id not in [r.node.node_id for r in after]
    uncached = setup.retriever(cache_results=False)
    assert as_data(after) == as_data(uncached.retrieve(QUESTION))


def test_a_write_through_another_store_sharing_the_cache_invalidates(setup: Setup) -> None:
    retriever = setup.retriever()
    top = retriever.retrieve(QUESTION)[0].node
    other = CachedQdrantVectorStore("docs", client=setup.client, cache_dir=setup.cache_dir)
    assert other is not setup.store
    other.delete_nodes([top.node_id])
    embedded = setup.embed.queries
    after = retriever.retrieve(QUESTION)
    assert setup.embed.queries == embedded + 1
    assert top.node_id not in [r.node.node_id for r in after]


def test_a_bm25_change_outside_the_store_invalidates(setup: Setup) -> None:
    retriever = setup.retriever()
    retriever.retrieve(QUESTION)
    assert retriever.bm25 is not None
    generation = retriever.bm25.index.generation
    extra = TextNode(text="term frequency term frequency bm25", id_=str(uuid.uuid4()))
    retriever.bm25.add_nodes([extra])  # BM25 only: the store's epoch does not move
    assert retriever.bm25.index.generation != generation
    embedded = setup.embed.queries
    retriever.retrieve(QUESTION)
    assert setup.embed.queries == embedded + 1


def test_filters_and_top_k_are_separate_entries(setup: Setup) -> None:
    retriever = setup.retriever()
    cooking = retriever.with_filters(
        MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
    )
    plain = retriever.retrieve(QUESTION)
    calls = setup.embed.queries
    filtered = cooking.retrieve(QUESTION)
    assert setup.embed.queries == calls + 1
    assert topics(filtered) == ["cooking"]
    retriever.similarity_top_k = 1
    one = retriever.retrieve(QUESTION)
    assert setup.embed.queries == calls + 2
    assert len(one) == 1 and len(plain) == 3
    calls = setup.embed.queries
    assert topics(cooking.retrieve(QUESTION)) == ["cooking"]
    assert len(retriever.retrieve(QUESTION)) == 1
    assert setup.embed.queries == calls, "each entry is served from cache on its repeat"


@pytest.mark.parametrize(
    "bad",
    [
        {"version": 1, "hits": [{"node": {"__type__": "1"}, "score": 1.0}]},
        {"version": 1, "hits": [{"node": {"bad": 1}, "score": "x"}]},
        {"version": 1, "hits": "nope"},
        {"version": 99, "hits": []},
        ["not", "a", "dict"],
        "text",
    ],
)
def test_a_corrupt_entry_is_a_miss(setup: Setup, bad: Any, fused_events: list[str]) -> None:
    retriever = setup.retriever()
    expected = as_data(retriever.retrieve(QUESTION))
    cache = setup.store.query_cache
    assert cache is not None and retriever.bm25 is not None
    epoch = setup.store.cache_epoch()
    assert epoch is not None
    fields = FusedResultCache(setup.store).key_fields(
        retriever, "point_rrf", QueryBundle(QUESTION), None, retriever.bm25.index.generation
    )
    key = cache.key(epoch, **fields)
    assert cache.get(key) is not None, "the test must overwrite the real entry"
    cache.cache.set_json(key, bad)
    cache.forget_memory()  # the entry as another process (or this one, restarted) finds it
    embedded = setup.embed.queries
    assert as_data(retriever.retrieve(QUESTION)) == expected
    assert setup.embed.queries == embedded + 1
    assert fused_events[-1] == "miss"
    assert as_data(retriever.retrieve(QUESTION)) == expected  # repaired: a hit again
    assert fused_events[-1] == "hit"


async def test_async_path_equals_sync(setup: Setup, fused_events: list[str]) -> None:
    retriever = setup.retriever()
    first = await retriever.aretrieve(QUESTION)
    embedded = setup.embed.queries
    assert as_data(retriever.retrieve(QUESTION)) == as_data(first)
    assert as_data(await retriever.aretrieve(QUESTION)) == as_data(first)
    assert setup.embed.queries == embedded
    assert fused_events == ["miss", "hit", "hit"]
    uncached = setup.retriever(cache_results=False)
    assert as_data(await uncached.aretrieve(QUESTION)) == as_data(first)


def test_returned_nodes_are_never_shared(setup: Setup) -> None:
    retriever = setup.retriever()
    expected = as_data(retriever.retrieve(QUESTION))
    a, b = retriever.retrieve(QUESTION), retriever.retrieve(QUESTION)
    assert all(x.node is not y.node for x, y in zip(a, b, strict=True))
    a[0].node.metadata["fusion"]["score"] = -1.0
    a[0].node.metadata["fusion"]["sources"]["bm25"]["rank"] = 99
    a[0].node.metadata["added"] = {"by": ["caller"]}
    a[0].node.set_content("changed by the caller")
    a[0].node.excluded_llm_metadata_keys.clear()
    a[0].node.relationships[NodeRelationship.SOURCE].metadata["x"] = 1
    a[0].node.relationships[NodeRelationship.SOURCE].node_id = "another document"
    del a[1].node.relationships[NodeRelationship.SOURCE]
    a[0].score = 123.0
    a.pop()
    assert as_data(b) == expected
    assert as_data(retriever.retrieve(QUESTION)) == expected
    assert as_data(retriever.retrieve(QUESTION)) == expected


def test_a_hit_is_served_from_memory_until_another_process_writes(
    setup: Setup, fused_events: list[str]
) -> None:
    retriever = setup.retriever()
    expected = as_data(retriever.retrieve(QUESTION))
    cache = setup.store.query_cache
    assert cache is not None
    held = cache.memory_stats.hits
    assert as_data(retriever.retrieve(QUESTION)) == expected
    assert cache.memory_stats.hits == held + 1 and fused_events == ["miss", "hit"]
    script = (
        "import sys\n"
        "from ragdrop.cache import QueryResultCache, SafeCache\n"
        "qc = QueryResultCache(SafeCache(sys.argv[1], namespace='queries'))\n"
        "qc.bump(sys.argv[2], sys.argv[3])\n"
    )
    scope = setup.store.cache_scope or client_scope(setup.store.client)[0]
    subprocess.run(
        [sys.executable, "-c", script, str(setup.cache_dir), scope, "docs"],
        check=True,
        timeout=120,
    )
    embedded = setup.embed.queries
    assert as_data(retriever.retrieve(QUESTION)) == expected
    assert setup.embed.queries == embedded + 1, "a write elsewhere must make it a miss"
    assert fused_events[-1] == "miss"


def test_no_cache_dir_means_no_caching(tmp_path: Path, embed_model: Any, fixture_documents):
    client = QdrantClient(location=":memory:")
    embed = CountingEmbedding(embed_model)
    store = CachedQdrantVectorStore("docs", client=client)
    VectorStoreIndex(
        make_nodes(fixture_documents),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )
    retriever = HybridRetriever.from_vector_store(store, embed_model=embed)
    retriever.retrieve(QUESTION)
    before = embed.queries
    retriever.retrieve(QUESTION)
    assert embed.queries == before + 1
    client.close()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_cache_results_must_be_a_bool(setup: Setup, value: Any) -> None:
    with pytest.raises(TypeError, match="cache_results"):
        setup.retriever(cache_results=value)


def test_pipeline_repeats_a_question_from_cache(
    tmp_path: Path, embed_model: Any, fixture_documents: list[Document], fused_events: list[str]
) -> None:
    config = PipelineConfig(data_dir=tmp_path / "rag", collection="t", rerank=False)
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        question = "How do you bake bread with yeast?"
        first = pipeline.query(question, top_k=3)
        retriever = pipeline.components.retriever
        again = retriever.retrieve(question)
        assert fused_events == ["miss", "hit"]
        assert [n.node_id for n in again[:3]] == [s.node_id for s in first.sources]
        # The pipeline answers the repeat from its answer cache, before retrieving.
        second = pipeline.query(question, top_k=3)
        assert fused_events == ["miss", "hit"] and "cache" in second.timings
        assert [s.node_id for s in second.sources] == [s.node_id for s in first.sources]
        assert second.answer == first.answer
        new = Document(
            text="Sourdough bread is baked from a starter of wild yeast instead of dry yeast.",
            id_="sourdough",
            metadata={"topic": "sourdough"},
        )
        pipeline.ingest([new])
        third = pipeline.query(question, top_k=3)
        assert fused_events[-1] == "miss"
        assert "sourdough" in [s.ref_doc_id for s in third.sources]
        assert {s.node_id for s in third.sources} != {s.node_id for s in first.sources}
