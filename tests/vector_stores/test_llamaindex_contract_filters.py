"""LlamaIndex's metadata-filter contract on our store and on LlamaIndex's Qdrant store.

Every `FilterOperator`, the AND/OR/NOT conditions and nested `MetadataFilters`, through
``query`` and ``get_nodes``, on ``:memory:``, on-disk local mode and Edge (harness:
``llamaindex_contract``). The expected ids are written out and, for filters without
nesting, checked against LlamaIndex's own evaluator (``build_metadata_filter_fn``, what
``SimpleVectorStore`` runs), so they are LlamaIndex's meaning of each operator.

Qdrant's text match compares whole words, case-insensitively, where LlamaIndex's evaluator
compares substrings; the text cases use values on which both meanings agree.

Sync path only: both stores build a filter once for the sync and the async path (ours in
``filters.query_filter``), and ``test_llamaindex_contract`` runs filters through both paths.
"""

from __future__ import annotations

import llamaindex_contract as harness
import pytest
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn
from llamaindex_contract import Contract, contract_nodes, dense, llama_fails, uid

pytestmark = pytest.mark.integration

F = FilterOperator
AND, OR, NOT = FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT


# The harness's fixtures, with the sync path only.
impl, backend, engine, reader = harness.impl, harness.backend, harness.engine, harness.reader


@pytest.fixture(scope="module")
def io() -> str:
    return "sync"


def one(key: str, value: object, op: FilterOperator = F.EQ) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=key, value=value, operator=op)])


def many(
    *filters: MetadataFilter | MetadataFilters, condition: FilterCondition | None = AND
) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


def mf(key: str, value: object, op: FilterOperator = F.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


# (case id, filters, expected node numbers, why LlamaIndex's Qdrant store fails it or None)
CASES: list[tuple[str, MetadataFilters, set[int], str | None]] = [
    ("eq-str", one("rank", "c"), {2, 3}, None),
    ("eq-int", one("count", 3), {2}, None),
    ("eq-float", one("weight", 4.5), {3}, None),
    ("eq-unknown-key", one("unknown", "c"), set(), None),
    ("ne-str", one("rank", "a", F.NE), {1, 2, 3, 4, 5}, None),
    ("ne-float", one("weight", 1.0, F.NE), {1, 2, 3, 4, 5},
     "NE on a float builds MatchExcept, which refuses floats"),
    ("ne-missing-key", one("extra", "x", F.NE), {0, 1, 2, 4, 5},
     "NE is MatchExcept, which never matches a node without the key"),
    ("gt-int", one("count", 3, F.GT), {3, 4, 5}, None),
    ("gte-float", one("weight", 4.5, F.GTE), {3, 4, 5}, None),
    ("lt-float", one("weight", 3.0, F.LT), {0, 1}, None),
    ("lte-int", one("count", 2, F.LTE), {0, 1}, None),
    ("in-str", one("rank", ["a", "c"], F.IN), {0, 2, 3}, None),
    ("in-int", one("some_key", [1, 2], F.IN), {0, 1}, None),
    ("in-str-not-int", one("some_key", ["3"], F.IN), {2}, None),
    ("in-float", one("weight", [1.0, 4.5], F.IN), {0, 3},
     "IN on floats builds MatchAny, which refuses floats"),
    ("nin-str", one("rank", ["c"], F.NIN), {0, 1, 4, 5}, None),
    ("nin-int-keeps-str-and-missing", one("some_key", [1, 2], F.NIN), {2, 3, 4, 5},
     "NIN is MatchExcept, which never matches a node without the key"),
    ("nin-missing-key", one("extra", ["x"], F.NIN), {0, 1, 2, 4, 5},
     "NIN is MatchExcept, which never matches a node without the key"),
    ("any", one("tags", ["gamma", "delta"], F.ANY), {3, 4, 5},
     "ANY is not supported (NotImplementedError)"),
    ("all", one("tags", ["alpha", "beta"], F.ALL), {0},
     "ALL is not supported (NotImplementedError)"),
    ("contains", one("tags", "beta", F.CONTAINS), {0, 1, 5},
     "CONTAINS is not supported (NotImplementedError)"),
    ("text-match", one("title", "alpha beta", F.TEXT_MATCH), {0}, None),
    ("text-match-insensitive", one("title", "ALPHA", F.TEXT_MATCH_INSENSITIVE), {0, 1, 3}, None),
    ("is-empty-missing", one("extra", None, F.IS_EMPTY), {0, 1, 2}, None),
    ("is-empty-list", one("tags", None, F.IS_EMPTY), {2}, None),
    ("and", many(mf("rank", "c"), mf("count", 3, F.GT)), {3}, None),
    ("condition-none-is-and", many(mf("rank", "c"), mf("count", 3, F.GT), condition=None), {3},
     "condition=None builds an empty filter (every node)"),
    ("or", many(mf("rank", "a"), mf("weight", 6.0), condition=OR), {0, 5}, None),
    ("not", many(mf("rank", "c"), condition=NOT), {0, 1, 4, 5}, None),
    ("contradiction", many(mf("count", 2), mf("count", 3)), set(), None),
    (
        "nested-and-or-not",
        many(
            mf("count", 2, F.GTE),
            many(mf("rank", "c"), mf("extra", "z"), condition=OR),
            many(mf("some_key", [4], F.IN), condition=NOT),
        ),
        {2, 5},
        None,
    ),
    (
        "nested-or-of-ands",
        many(many(mf("rank", "c"), mf("weight", 4.0, F.LT)), many(mf("rank", "e")), condition=OR),
        {2, 5},
        None,
    ),
    ("empty-nested-is-skipped", many(mf("rank", "a"), MetadataFilters(filters=[])), {0}, None),
]  # fmt: skip


def _nested(filters: MetadataFilters) -> bool:
    return any(isinstance(f, MetadataFilters) for f in filters.filters)


@pytest.mark.parametrize(
    ("flt", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_expected_ids_are_llamaindex_semantics(flt: MetadataFilters, expected: set[int]) -> None:
    """The expected ids agree with ``build_metadata_filter_fn`` (where it can evaluate)."""
    if _nested(flt):
        pytest.skip("LlamaIndex's evaluator does not evaluate nested filters")
    meta = {n.node_id: n.metadata for n in contract_nodes()}
    keep = build_metadata_filter_fn(meta.__getitem__, flt)
    assert {i for i in range(6) if keep(uid(i))} == expected


# ``get_nodes`` builds its filter with the same function as ``query`` in both stores; these
# cases (LlamaIndex's own get_nodes filter test, and the nesting) run through it too.
GET_NODES_CASES = {
    "in-int", "in-str-not-int", "nin-int-keeps-str-and-missing", "or", "nested-and-or-not",
}  # fmt: skip
PARAMS = [("query", *c) for c in CASES] + [
    ("get_nodes", *c) for c in CASES if c[0] in GET_NODES_CASES
]


@pytest.mark.parametrize(
    ("via", "flt", "expected", "llama_reason"),
    [p[:1] + p[2:] for p in PARAMS],
    ids=[f"{p[1]}-{p[0]}" for p in PARAMS],
)
async def test_filter(
    request: pytest.FixtureRequest,
    impl: str,
    reader: Contract,
    via: str,
    flt: MetadataFilters,
    expected: set[int],
    llama_reason: str | None,
) -> None:
    if llama_reason is not None:
        llama_fails(request, impl, llama_reason)
    if via == "query":
        found = await reader.ids(dense([0.4, 0.5, 0.6], top_k=10, filters=flt))
    else:
        found = [n.node_id for n in await reader.get_nodes(filters=flt)]
    assert sorted(found) == sorted(uid(i) for i in expected)
