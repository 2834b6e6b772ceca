"""MetadataFilters → Qdrant Filter: every operator, checked on real Qdrant against Python."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import make_nodes
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from ragdrop.vector_stores import CachedQdrantVectorStore, to_qdrant_filter

pytestmark = pytest.mark.unit

F = FilterOperator

# (filter, python predicate over metadata)
CASES: list[tuple[MetadataFilter, Any]] = [
    (MetadataFilter(key="i", value=3, operator=F.EQ), lambda m: m["i"] == 3),
    (MetadataFilter(key="colour", value="red", operator=F.EQ), lambda m: m["colour"] == "red"),
    (MetadataFilter(key="score", value=1.5, operator=F.EQ), lambda m: m["score"] == 1.5),
    (MetadataFilter(key="i", value=3, operator=F.NE), lambda m: m["i"] != 3),
    (MetadataFilter(key="score", value=1.5, operator=F.NE), lambda m: m["score"] != 1.5),
    (MetadataFilter(key="i", value=20, operator=F.GT), lambda m: m["i"] > 20),
    (MetadataFilter(key="i", value=20, operator=F.GTE), lambda m: m["i"] >= 20),
    (MetadataFilter(key="score", value=2.5, operator=F.LT), lambda m: m["score"] < 2.5),
    (MetadataFilter(key="score", value=2.5, operator=F.LTE), lambda m: m["score"] <= 2.5),
    (MetadataFilter(key="i", value=[1, 4, 9], operator=F.IN), lambda m: m["i"] in (1, 4, 9)),
    (
        MetadataFilter(key="colour", value=["red", "blue"], operator=F.IN),
        lambda m: m["colour"] in ("red", "blue"),
    ),
    (
        MetadataFilter(key="score", value=[0.5, 2.0], operator=F.IN),
        lambda m: m["score"] in (0.5, 2.0),
    ),
    (MetadataFilter(key="i", value=[1, 4, 9], operator=F.NIN), lambda m: m["i"] not in (1, 4, 9)),
    (
        MetadataFilter(key="score", value=[0.5, 2.0], operator=F.NIN),
        lambda m: m["score"] not in (0.5, 2.0),
    ),
    (MetadataFilter(key="tags", value="t1", operator=F.CONTAINS), lambda m: "t1" in m["tags"]),
    (
        MetadataFilter(key="tags", value=["t1", "t2"], operator=F.ANY),
        lambda m: bool({"t1", "t2"} & set(m["tags"])),
    ),
    (
        MetadataFilter(key="tags", value=["red", "t0"], operator=F.ALL),
        lambda m: {"red", "t0"} <= set(m["tags"]),
    ),
    (
        MetadataFilter(key="title", value="number 1", operator=F.TEXT_MATCH),
        lambda m: {"number", "1"} <= set(m["title"].lower().split()),
    ),
    (MetadataFilter(key="missing", value=None, operator=F.IS_EMPTY), lambda m: True),
    (MetadataFilter(key="i", value=None, operator=F.IS_EMPTY), lambda m: False),
]


@pytest.fixture(scope="module")
def store_and_nodes() -> Any:
    client = QdrantClient(":memory:")
    store = CachedQdrantVectorStore("filters", client=client)
    data = make_nodes(30)
    store.add(data)
    yield store, data
    client.close()


def _ids(store: CachedQdrantVectorStore, filters: MetadataFilters) -> set[str]:
    q = VectorStoreQuery(query_embedding=[1.0] * 16, similarity_top_k=100, filters=filters)
    return set(store.query(q).ids)


@pytest.mark.parametrize(
    ("flt", "predicate"), CASES, ids=[f"{c[0].operator.value}-{c[0].key}" for c in CASES]
)
def test_operator_matches_python(store_and_nodes: Any, flt: MetadataFilter, predicate: Any) -> None:
    store, data = store_and_nodes
    expected = {n.node_id for n in data if predicate(n.metadata)}
    assert _ids(store, MetadataFilters(filters=[flt])) == expected


def test_nested_and_or_not(store_and_nodes: Any) -> None:
    store, data = store_and_nodes
    filters = MetadataFilters(
        filters=[
            MetadataFilter(key="i", value=5, operator=F.GTE),
            MetadataFilters(
                filters=[
                    MetadataFilter(key="colour", value="red"),
                    MetadataFilter(key="score", value=10.0, operator=F.GT),
                ],
                condition=FilterCondition.OR,
            ),
            MetadataFilters(
                filters=[MetadataFilter(key="i", value=[6, 9], operator=F.IN)],
                condition=FilterCondition.NOT,
            ),
        ],
        condition=FilterCondition.AND,
    )
    expected = {
        n.node_id
        for n in data
        if n.metadata["i"] >= 5
        and (n.metadata["colour"] == "red" or n.metadata["score"] > 10.0)
        and n.metadata["i"] not in (6, 9)
    }
    assert expected and _ids(store, filters) == expected


def test_values_keep_their_types() -> None:
    flt = to_qdrant_filter(
        MetadataFilters(filters=[MetadataFilter(key="i", value=[1, 2], operator=F.IN)])
    )
    condition = flt.must[0]  # type: ignore[index]
    assert isinstance(condition, qm.FieldCondition)
    assert condition.match == qm.MatchAny(any=[1, 2])


@pytest.mark.parametrize(
    "flt",
    [
        MetadataFilter(key="colour", value="red", operator=F.GT),
        MetadataFilter(key="i", value=None, operator=F.EQ),
        MetadataFilter(key="i", value=3, operator=F.TEXT_MATCH),
    ],
)
def test_unsupported_combinations_raise(flt: MetadataFilter) -> None:
    with pytest.raises(ValueError, match="filter on"):
        to_qdrant_filter(MetadataFilters(filters=[flt]))
