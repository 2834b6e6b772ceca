"""LlamaIndex ``MetadataFilters`` evaluated in Python, nested filters included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)


def _match(operator: FilterOperator, value: Any, actual: Any) -> bool:
    """One operator, with the semantics of LlamaIndex's ``SimpleVectorStore``."""
    if operator == FilterOperator.IS_EMPTY:
        return actual is None or actual == "" or actual == []
    if actual is None:
        return operator in (FilterOperator.NE, FilterOperator.NIN)
    try:
        if operator == FilterOperator.EQ:
            return bool(actual == value)
        if operator == FilterOperator.NE:
            return bool(actual != value)
        if operator == FilterOperator.GT:
            return bool(actual > value)
        if operator == FilterOperator.GTE:
            return bool(actual >= value)
        if operator == FilterOperator.LT:
            return bool(actual < value)
        if operator == FilterOperator.LTE:
            return bool(actual <= value)
        if operator == FilterOperator.IN:
            return actual in value
        if operator == FilterOperator.NIN:
            return actual not in value
        if operator == FilterOperator.CONTAINS:
            return value in actual
        if operator == FilterOperator.TEXT_MATCH:
            return isinstance(actual, str) and isinstance(value, str) and value in actual
        if operator == FilterOperator.TEXT_MATCH_INSENSITIVE:
            return (
                isinstance(actual, str)
                and isinstance(value, str)
                and value.lower() in actual.lower()
            )
        if operator == FilterOperator.ANY:
            return any(v in actual for v in value)
        if operator == FilterOperator.ALL:
            return all(v in actual for v in value)
    except TypeError:
        # A value of another type (e.g. "a" > 3) never matches, as in Qdrant.
        return False
    raise ValueError(f"unsupported filter operator {operator!r}")


def matches(filters: MetadataFilters, metadata: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` satisfies ``filters`` (AND / OR / NOT, nested)."""
    results = (
        matches(f, metadata)
        if isinstance(f, MetadataFilters)
        else _match(f.operator, f.value, metadata.get(f.key))
        for f in filters.filters
    )
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return all(results)
    if condition == FilterCondition.OR:
        return any(results)
    if condition == FilterCondition.NOT:
        return not any(results)
    raise ValueError(f"unsupported filter condition {condition!r}")


def build_filter_fn(
    filters: MetadataFilters | None, metadata_of: Callable[[str], Mapping[str, Any] | None]
) -> Callable[[str], bool] | None:
    """Predicate on node ids for ``filters``, or None when there is nothing to filter."""
    if filters is None or not filters.filters:
        return None
    if not isinstance(filters, MetadataFilters):
        raise TypeError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    for f in filters.filters:
        if not isinstance(f, MetadataFilter | MetadataFilters):
            raise TypeError(f"filters.filters holds {type(f).__name__}, not MetadataFilter")

    def accept(node_id: str) -> bool:
        metadata = metadata_of(node_id)
        return metadata is not None and matches(filters, metadata)

    return accept
