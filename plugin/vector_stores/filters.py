"""LlamaIndex `MetadataFilters` → Qdrant `Filter`, for every operator, values keeping types.

Unlike LlamaIndex's Qdrant store, an operator that cannot be expressed raises instead of
being dropped (llama_index#20237), ``in``/``nin`` never turn numbers into strings
(llama_index#19152), and ``ne``/``nin`` keep nodes without the key, as LlamaIndex's own
evaluator does. Floats use ``Range`` because Qdrant's ``MatchValue`` has no floats.

Example:
    >>> to_qdrant_filter(MetadataFilters(filters=[MetadataFilter(key="year", value=2020,
    ...     operator=FilterOperator.GTE)]))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from qdrant_client.http import models as qm

DOC_ID_KEY = "doc_id"

_RANGE_OPS = {
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(key: str, value: Any) -> qm.Condition:
    if isinstance(value, float):
        return qm.FieldCondition(key=key, range=qm.Range(gte=value, lte=value))
    if isinstance(value, str | int):
        return qm.FieldCondition(key=key, match=qm.MatchValue(value=value))
    raise ValueError(
        f"filter on {key!r}: value {value!r} ({type(value).__name__}) cannot be matched; "
        "allowed: str, int, float"
    )


def _values(f: MetadataFilter) -> list[Any]:
    value = f.value
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError(f"filter on {f.key!r}: operator {f.operator.value!r} needs values")
    return values


def _any_of(key: str, values: list[Any]) -> qm.Condition:
    if any(isinstance(v, float) for v in values):
        return qm.Filter(should=[_equals(key, v) for v in values])
    return qm.FieldCondition(key=key, match=qm.MatchAny(any=values))


def _none_of(key: str, values: list[Any]) -> qm.Condition:
    # NOT(any of), not Qdrant's MatchExcept: MatchExcept never matches a point without the
    # key, while LlamaIndex's NE/NIN keep such nodes (they are equal to none of the values).
    return qm.Filter(must_not=[_any_of(key, values)])


def condition_for(f: MetadataFilter) -> qm.Condition:
    """The Qdrant condition for one `MetadataFilter`; raises ValueError if unsupported."""
    op = f.operator or FilterOperator.EQ
    if op == FilterOperator.IS_EMPTY:
        return qm.IsEmptyCondition(is_empty=qm.PayloadField(key=f.key))
    if f.value is None:
        raise ValueError(f"filter on {f.key!r}: operator {op.value!r} needs a value, got None")
    if op == FilterOperator.EQ or op == FilterOperator.CONTAINS:
        return _equals(f.key, f.value)
    if op == FilterOperator.NE:
        return _none_of(f.key, [f.value])
    if op in _RANGE_OPS:
        if not _is_number(f.value):
            raise ValueError(
                f"filter on {f.key!r}: operator {op.value!r} needs an int or float, got {f.value!r}"
            )
        return qm.FieldCondition(key=f.key, range=qm.Range(**{_RANGE_OPS[op]: f.value}))
    if op in (FilterOperator.IN, FilterOperator.ANY):
        return _any_of(f.key, _values(f))
    if op == FilterOperator.NIN:
        return _none_of(f.key, _values(f))
    if op == FilterOperator.ALL:
        return qm.Filter(must=[_equals(f.key, v) for v in _values(f)])
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(f.value, str):
            raise ValueError(f"filter on {f.key!r}: text_match needs a str, got {f.value!r}")
        # Full-text match; case-insensitive when the field has a (lowercasing) text index.
        return qm.FieldCondition(key=f.key, match=qm.MatchText(text=f.value))
    allowed = [o.value for o in FilterOperator]
    raise ValueError(f"filter operator {op!r} is not supported; allowed: {allowed}")


def to_qdrant_filter(filters: MetadataFilters) -> qm.Filter:
    """A Qdrant `Filter` equivalent to ``filters`` (nested AND/OR/NOT included)."""
    conditions: list[qm.Condition] = []
    for sub in filters.filters:
        if isinstance(sub, MetadataFilters):
            if sub.filters:
                conditions.append(to_qdrant_filter(sub))
            continue
        conditions.append(condition_for(sub))
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return qm.Filter(must=conditions)
    if condition == FilterCondition.OR:
        return qm.Filter(should=conditions)
    if condition == FilterCondition.NOT:
        return qm.Filter(must_not=conditions)
    allowed = [c.value for c in FilterCondition]
    raise ValueError(f"filter condition {condition!r} is not supported; allowed: {allowed}")


def query_filter(
    filters: MetadataFilters | None,
    doc_ids: list[str] | None = None,
    point_ids: list[str] | None = None,
) -> qm.Filter | None:
    """The filter of a `VectorStoreQuery`: metadata filters, ``doc_ids`` and node ids.

    ``doc_ids=[]`` or ``point_ids=[]`` keeps no node (deleting or reading "these ids" when
    there are none touches nothing); ``None`` constrains nothing. A query reads an empty list
    as no constraint before it gets here, as LlamaIndex's Qdrant store does (`reads.query_op`).
    """
    must: list[qm.Condition] = []
    if doc_ids is not None:
        # An id list that is empty matches no point, on every engine.
        must.append(
            qm.FieldCondition(key=DOC_ID_KEY, match=qm.MatchAny(any=list(doc_ids)))
            if doc_ids
            else qm.HasIdCondition(has_id=[])
        )
    if point_ids is not None:
        must.append(qm.HasIdCondition(has_id=list(point_ids)))
    if filters is not None and filters.filters:
        must.append(to_qdrant_filter(filters))
    return qm.Filter(must=must) if must else None


__all__ = ["DOC_ID_KEY", "condition_for", "query_filter", "to_qdrant_filter"]
