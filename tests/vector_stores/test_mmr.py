"""MMR (``vector_store_query_mode="mmr"``) on Qdrant ``:memory:``, on-disk local mode and Edge.

The data: eight near-copies of one passage about topic A, the passages nearest the query, and
four passages about other topics a little further away (together the 12 candidates of a
top 3), then unrelated ones. Plain search returns the copies;
MMR returns the other topics. The selection is checked by hand, and against Qdrant's own MMR
(the query API's ``NearestQuery(mmr=...)``, which local mode and Edge also implement).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import QueryBundle, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client.http import models as qm

from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.mmr import mmr_options, mmr_select
from ragdrop.vector_stores.points import point_id_for
from ragdrop.vector_stores.requests import query_points_request
from ragdrop.vector_stores.settings import read_layout

DIM = 16
MMR = VectorStoreQueryMode.MMR


def _unit(vector: np.ndarray) -> list[float]:
    return (vector / np.linalg.norm(vector)).tolist()


def _axis(i: int) -> np.ndarray:
    return np.eye(DIM)[i]


QUERY = _unit(_axis(0))


def _corpus() -> list[TextNode]:
    rng = np.random.default_rng(7)
    nodes = []
    for i in range(8):  # near-duplicates, the nearest to the query
        vector = _axis(0) + 0.3 * _axis(1) + 0.01 * rng.normal(size=DIM)
        nodes.append(("A", vector, "red" if i % 2 else "blue"))
    for topic, axis, weight, colour in [
        ("B", 2, 0.9, "red"),
        ("C", 3, 1.0, "blue"),
        ("D", 4, 1.1, "red"),
        ("E", 5, 1.2, "blue"),
    ]:
        nodes.append((topic, _axis(0) + weight * _axis(axis), colour))
    for axis in range(6, 10):  # unrelated to the query
        nodes.append(("Z", _axis(axis) + 0.1 * _axis(0), "red"))
    return [
        TextNode(
            id_=f"n{i}",
            text=f"passage {i} about topic {topic}",
            metadata={"topic": topic, "colour": colour},
            embedding=_unit(np.asarray(vector)),
        )
        for i, (topic, vector, colour) in enumerate(nodes)
    ]


@pytest.fixture()
def store(client: Any, tmp_path: Path) -> Iterator[CachedQdrantVectorStore]:
    made = CachedQdrantVectorStore("mmr", client=client, cache_dir=tmp_path / "cache")
    made.add(_corpus())
    yield made
    made.close()


def _query(k: int = 3, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=QUERY, similarity_top_k=k, **kw)


def _topics(result: Any) -> list[str]:
    return [n.metadata["topic"] for n in result.nodes]


# -- the selection, by hand ---------------------------------------------------------------------
@pytest.mark.unit
def test_mmr_select_hand_computed() -> None:
    query = np.array([1.0, 0.0])
    # sim to the query: a 1.0, b 0.99, c 0.6; sim(a, b) = 0.99, sim(a, c) = 0.6,
    # sim(b, c) = 0.99 * 0.6 + 0.141067 * 0.8 = 0.706854
    a, b, c = [1.0, 0.0], [0.99, float(np.sqrt(1 - 0.99**2))], [0.6, 0.8]
    candidates = np.array([a, b, c])
    # λ = 0.3, after a: b = 0.3 * 0.99 - 0.7 * 0.99 = -0.396; c = 0.3 * 0.6 - 0.7 * 0.6 = -0.24
    assert mmr_select(query, candidates, 3, 0.3, "Cosine") == [0, 2, 1]
    assert mmr_select(query, candidates, 2, 0.3, "Dot") == [0, 2]
    # λ = 1: plain ranking; λ = 0.9: b = 0.891 - 0.099 = 0.792 beats c = 0.54 - 0.06 = 0.48
    assert mmr_select(query, candidates, 3, 1.0, "Cosine") == [0, 1, 2]
    assert mmr_select(query, candidates, 3, 0.9, "Cosine") == [0, 1, 2]
    # λ = 0.45 after a: b = 0.4455 - 0.5445 = -0.099; c = 0.27 - 0.33 = -0.06; top_k > count
    assert mmr_select(query, candidates, 5, 0.45, "Cosine") == [0, 2, 1]
    assert mmr_select(query, candidates[:0], 3, 0.5, "Cosine") == []


@pytest.mark.unit
def test_mmr_select_euclid_uses_negated_distance() -> None:
    query = np.array([0.0, 0.0])
    candidates = np.array([[1.0, 0.0], [1.1, 0.0], [0.0, 1.5]])
    # λ = 0.5 after [1, 0]: [1.1, 0] = -0.55 + 0.05 = -0.5; [0, 1.5] = -0.75 + 0.9014 = 0.151
    assert mmr_select(query, candidates, 3, 0.5, "Euclid") == [0, 2, 1]
    assert mmr_select(query, candidates, 3, 1.0, "Manhattan") == [0, 1, 2]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"mmr_threshold": 1.5}, "mmr_threshold"),
        ({"mmr_threshold": -0.1}, "mmr_threshold"),
        ({"mmr_threshold": "high"}, "mmr_threshold"),
        ({"mmr_threshold": True}, "mmr_threshold"),
        ({"mmr_threshold": float("nan")}, "mmr_threshold"),
        ({"mmr_prefetch_k": 0}, "mmr_prefetch_k"),
        ({"mmr_prefetch_k": 2.5}, "mmr_prefetch_k"),
        ({"mmr_prefetch_factor": 0.5}, "mmr_prefetch_factor"),
        ({"mmr_prefetch_k": 10, "mmr_prefetch_factor": 2}, "mmr_prefetch_factor"),
        ({"mmr_prefetch_k": 100_000}, "mmr_prefetch_k"),
    ],
)
def test_mmr_options_are_validated(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        mmr_options(kwargs, 3)


@pytest.mark.unit
def test_mmr_options_defaults_follow_llamaindex() -> None:
    assert mmr_options({}, 3) == mmr_options({"mmr_threshold": 0.5}, 3)
    assert mmr_options({}, 3).candidates == 12  # similarity_top_k * 4
    assert mmr_options({"mmr_prefetch_factor": 2.5}, 3).candidates == 8
    assert mmr_options({"mmr_prefetch_k": 2}, 3).candidates == 3  # never below top k
    assert mmr_options({"mmr_threshold": 0.3}, 3).diversity == pytest.approx(0.7)


# -- through the store, on every engine ---------------------------------------------------------
@pytest.mark.integration
def test_mmr_diversifies_near_duplicates(store: CachedQdrantVectorStore) -> None:
    plain = store.query(_query())
    assert _topics(plain) == ["A", "A", "A"]
    diverse = store.query(_query(mode=MMR), mmr_threshold=0.3)
    assert _topics(diverse)[0] == "A"
    assert len(set(_topics(diverse))) == 3
    # Scores are each node's similarity to the query, as plain mode gives it.
    every = store.query(_query(k=20))
    similarity = dict(zip(every.ids, every.similarities, strict=True))
    assert diverse.similarities == pytest.approx([similarity[i] for i in diverse.ids])


@pytest.mark.integration
def test_mmr_with_full_relevance_is_plain_ranking(store: CachedQdrantVectorStore) -> None:
    plain = store.query(_query(k=6))
    same = store.query(_query(k=6, mode=MMR), mmr_threshold=1.0)
    assert same.ids == plain.ids
    assert same.similarities == pytest.approx(plain.similarities)


@pytest.mark.integration
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.8])
def test_mmr_picks_what_qdrant_mmr_picks(
    store: CachedQdrantVectorStore, client: Any, threshold: float
) -> None:
    ours = store.query(_query(k=5, mode=MMR), mmr_threshold=threshold, mmr_prefetch_k=10)
    native = client.query_points(
        collection_name="mmr",
        query=qm.NearestQuery(
            nearest=QUERY, mmr=qm.Mmr(diversity=1.0 - threshold, candidates_limit=10)
        ),
        limit=5,
        with_payload=True,
    ).points
    assert [point_id_for(i) for i in ours.ids] == [str(p.id) for p in native]
    assert ours.similarities == pytest.approx([p.score for p in native])


@pytest.mark.integration
def test_mmr_honours_filters(store: CachedQdrantVectorStore) -> None:
    red = MetadataFilters(filters=[MetadataFilter(key="colour", value="red")])
    # The six red candidates: four copies of A, then B and D.
    result = store.query(_query(mode=MMR, filters=red), mmr_threshold=0.3, mmr_prefetch_k=6)
    assert all(n.metadata["colour"] == "red" for n in result.nodes)
    assert sorted(_topics(result)) == ["A", "B", "D"]
    not_a = MetadataFilters(
        filters=[MetadataFilter(key="topic", value="A", operator=FilterOperator.NE)]
    )
    result = store.query(_query(k=3, mode=MMR, filters=not_a), mmr_threshold=0.3)
    assert "A" not in _topics(result)
    only = store.query(_query(k=3, mode=MMR, node_ids=["n0", "n1", "n5"]), mmr_threshold=0.3)
    assert sorted(only.ids) == ["n0", "n1", "n5"]


@pytest.mark.integration
def test_repeated_mmr_query_is_a_cache_hit(store: CachedQdrantVectorStore) -> None:
    first = store.query(_query(mode=MMR), mmr_threshold=0.3)
    cache = store.query_cache
    assert cache is not None
    held = cache.memory_stats.hits
    again = store.query(_query(mode=MMR), mmr_threshold=0.3)
    assert cache.memory_stats.hits == held + 1
    assert again.ids == first.ids and again.similarities == first.similarities
    # λ, the candidates and the mode are in the key: not served each other's answers.
    assert store.query(_query(mode=MMR), mmr_threshold=1.0).ids != first.ids
    assert store.query(_query()).ids != first.ids
    assert store.query(_query(mode=MMR), mmr_threshold=0.3, mmr_prefetch_k=3).ids != first.ids
    # A write starts a new epoch: the next MMR query sees it.
    extra = TextNode(
        id_="n-new",
        text="passage about topic F",
        metadata={"topic": "F", "colour": "red"},
        embedding=_unit(_axis(0) - 0.6 * _axis(1)),  # relevant, and unlike A
    )
    store.add([extra])
    assert "F" in _topics(store.query(_query(mode=MMR), mmr_threshold=0.3))


@pytest.mark.integration
async def test_async_mmr_equals_sync(store: CachedQdrantVectorStore) -> None:
    sync = store.query(_query(k=4, mode=MMR), mmr_threshold=0.3)
    fresh = CachedQdrantVectorStore("mmr", client=store.client)  # no cache: really queried
    asynchronous = await fresh.aquery(_query(k=4, mode=MMR), mmr_threshold=0.3)
    assert asynchronous.ids == sync.ids
    assert asynchronous.similarities == pytest.approx(sync.similarities)
    with pytest.raises(ValueError, match="mmr_threshold"):
        await fresh.aquery(_query(mode=MMR), mmr_threshold=2)


@pytest.mark.integration
def test_llamaindex_retriever_in_mmr_mode(store: CachedQdrantVectorStore) -> None:
    index = VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=DIM))
    plain = index.as_retriever(similarity_top_k=3)
    bundle = QueryBundle(query_str="topic A", embedding=QUERY)
    assert [h.node.metadata["topic"] for h in plain.retrieve(bundle)] == ["A", "A", "A"]
    retriever = index.as_retriever(
        similarity_top_k=3,
        vector_store_query_mode="mmr",
        vector_store_kwargs={"mmr_threshold": 0.3},
    )
    hits = retriever.retrieve(bundle)
    assert len({h.node.metadata["topic"] for h in hits}) == 3
    assert hits[0].node.metadata["topic"] == "A"


@pytest.mark.integration
def test_mmr_on_a_missing_collection_is_empty(client: Any) -> None:
    store = CachedQdrantVectorStore("none", client=client)
    assert store.query(_query(mode=MMR), mmr_threshold=0.3).ids == []


@pytest.mark.integration
@pytest.mark.parametrize("threshold", [0.2, 0.6])
def test_server_request_uses_qdrant_mmr(client: Any, threshold: float) -> None:
    """What a Qdrant server is sent (its own MMR), sent here to engines that implement it."""
    store = CachedQdrantVectorStore("mmr", client=client)
    store.add(_corpus())
    query = _query(k=4, mode=MMR)
    mmr = mmr_options({"mmr_threshold": threshold}, 4)
    layout = read_layout(client.get_collection("mmr"), "mmr")
    request = query_points_request(
        collection="mmr", query=query, layout=layout, flt=None, params=None, sparse=None,
        rrf_k=60, mmr=mmr, native_mmr=True,
    )  # fmt: skip
    sent = request["query"]
    assert isinstance(sent, qm.NearestQuery) and sent.mmr is not None
    assert sent.mmr.diversity == pytest.approx(1 - threshold)
    assert sent.mmr.candidates_limit == 16 and request["limit"] == 4
    native = client.query_points(**request).points
    ours = store.query(query, mmr_threshold=threshold)
    assert [point_id_for(i) for i in ours.ids] == [str(p.id) for p in native]


@pytest.mark.integration
def test_mmr_on_a_hybrid_store_uses_the_dense_vector(client: Any) -> None:
    store = CachedQdrantVectorStore("hybrid", client=client, enable_hybrid=True)
    store.add(_corpus())
    result = store.query(_query(mode=MMR), mmr_threshold=0.3)
    assert _topics(result)[0] == "A" and len(set(_topics(result))) == 3
