"""qdrant-client point ids, filters and point selectors as Qdrant Edge takes them.

Every condition type Edge has is mapped; anything else raises ``NotImplementedError`` naming
it, so a filter is never silently narrowed.

Example:
    >>> from qdrant_client import models
    >>> flt = models.Filter(must=[models.FieldCondition(key="k", match=models.MatchValue(value="v"))])
    >>> type(filter_to_edge(flt)).__name__
    'Filter'
    >>> selector_to_edge([1, "6f9619ff-8b86-d011-b42d-00cf4fc964ff"])
    [1, UUID('6f9619ff-8b86-d011-b42d-00cf4fc964ff')]
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import qdrant_edge as edge
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.errors import unsupported

EdgePointId = int | uuid.UUID
"""A point id as Edge takes it: an unsigned int or a ``uuid.UUID``."""

FilterInput = types.Filter | Mapping[str, object]
"""A ``models.Filter`` or its dict form."""


# --------------------------------------------------------------------------- point ids


def point_id_to_edge(point_id: object) -> EdgePointId:
    """A qdrant-client point id (unsigned int or UUID string) as Edge takes it."""
    if isinstance(point_id, bool) or not isinstance(point_id, (int, str, uuid.UUID)):
        raise TypeError(f"point id must be an unsigned int or a UUID, got {point_id!r}")
    if isinstance(point_id, int):
        if point_id < 0:
            raise ValueError(f"point id must be an unsigned int or a UUID, got {point_id!r}")
        return point_id
    if isinstance(point_id, uuid.UUID):
        return point_id
    try:
        return uuid.UUID(point_id)
    except ValueError:
        raise ValueError(f"point id must be an unsigned int or a UUID, got {point_id!r}") from None


def point_id_from_edge(point_id: edge.PointId) -> int | str:
    """Edge returns UUIDs as ``uuid.UUID``; qdrant-client returns them as strings."""
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


def selector_to_edge(
    selector: types.PointsSelector | Sequence[types.PointId],
) -> list[edge.PointId] | edge.Filter:
    """The point ids, or the Edge filter, that a qdrant-client points selector names."""
    ids: list[edge.PointId]
    if isinstance(selector, models.PointIdsList):
        ids = [point_id_to_edge(i) for i in selector.points]
        return ids
    if isinstance(selector, models.FilterSelector):
        return filter_to_edge(selector.filter) or edge.Filter()
    if isinstance(selector, models.Filter):
        return filter_to_edge(selector) or edge.Filter()
    if isinstance(selector, Sequence) and not isinstance(selector, str):
        ids = [point_id_to_edge(i) for i in selector]
        return ids
    raise TypeError(
        f"points selector must be a list of ids, PointIdsList, FilterSelector or Filter, "
        f"got {selector!r}"
    )


# --------------------------------------------------------------------------- filters


def filter_to_edge(query_filter: FilterInput | None) -> edge.Filter | None:
    """A qdrant-client ``Filter`` as an Edge ``Filter``; every condition type is mapped."""
    if query_filter is None:
        return None
    if isinstance(query_filter, Mapping):
        query_filter = models.Filter.model_validate(query_filter)
    if not isinstance(query_filter, models.Filter):
        raise TypeError(f"filter must be a qdrant_client.models.Filter, got {query_filter!r}")
    min_should = None
    if query_filter.min_should is not None:
        min_should = edge.MinShould(
            conditions=_conditions(query_filter.min_should.conditions) or [],
            min_count=query_filter.min_should.min_count,
        )
    return edge.Filter(
        must=_conditions(query_filter.must),
        should=_conditions(query_filter.should),
        must_not=_conditions(query_filter.must_not),
        min_should=min_should,
    )


def _conditions(
    conditions: list[models.Condition] | models.Condition | None,
) -> list[edge.ConditionType] | None:
    if conditions is None:
        return None
    if not isinstance(conditions, list):
        conditions = [conditions]
    return [condition_to_edge(c) for c in conditions]


def condition_to_edge(condition: models.Condition) -> edge.ConditionType:
    """One filter condition (field, is_empty, is_null, has_id, has_vector, nested, filter)."""
    if isinstance(condition, models.FieldCondition):
        return edge.FieldCondition(
            key=condition.key,
            match=_match(condition.match),
            range=_range(condition.range),
            geo_bounding_box=_geo_box(condition.geo_bounding_box),
            geo_radius=_geo_radius(condition.geo_radius),
            geo_polygon=_geo_polygon(condition.geo_polygon),
            values_count=_values_count(condition.values_count),
            is_empty=condition.is_empty,
            is_null=condition.is_null,
        )
    if isinstance(condition, models.IsEmptyCondition):
        return edge.IsEmptyCondition(key=condition.is_empty.key)
    if isinstance(condition, models.IsNullCondition):
        return edge.IsNullCondition(key=condition.is_null.key)
    if isinstance(condition, models.HasIdCondition):
        return edge.HasIdCondition({point_id_to_edge(i) for i in condition.has_id})
    if isinstance(condition, models.HasVectorCondition):
        return edge.HasVectorCondition(condition.has_vector)
    if isinstance(condition, models.NestedCondition):
        nested = filter_to_edge(condition.nested.filter) or edge.Filter()
        return edge.NestedCondition(key=condition.nested.key, filter=nested)
    if isinstance(condition, models.Filter):
        return filter_to_edge(condition) or edge.Filter()
    raise unsupported("filter condition", condition)


def _match(match: models.Match | None) -> edge.MatchType | None:
    if match is None:
        return None
    if isinstance(match, models.MatchValue):
        if isinstance(match.value, bool):
            # qdrant-edge-py 0.9 turns a bool into an int here (True -> 1), which matches the
            # integer 1 and never the boolean true: refuse rather than answer wrongly
            raise NotImplementedError(
                f"MatchValue(value={match.value!r}): Qdrant Edge 0.9 cannot match booleans "
                "(its binding converts them to integers); store the flag as a keyword or "
                "integer, or use qdrant-client local mode/a server"
            )
        return edge.MatchValue(match.value)
    if isinstance(match, models.MatchText):
        return edge.MatchText(match.text)
    if isinstance(match, models.MatchTextAny):
        return edge.MatchTextAny(match.text_any)
    if isinstance(match, models.MatchPhrase):
        return edge.MatchPhrase(match.phrase)
    if isinstance(match, models.MatchPrefix):
        return edge.MatchPrefix(match.prefix)
    if isinstance(match, models.MatchSubstring):
        return edge.MatchSubstring(match.substring)
    if isinstance(match, models.MatchAny):
        return edge.MatchAny(_homogeneous(match.any, "MatchAny.any"))
    if isinstance(match, models.MatchExcept):
        return edge.MatchExcept(_homogeneous(match.except_, "MatchExcept.except_"))
    raise unsupported("match", match)


def _homogeneous(values: Sequence[object], what: str) -> list[str] | list[int]:
    strings = [v for v in values if isinstance(v, str)]
    if len(strings) == len(values):
        return strings
    integers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(integers) == len(values):
        return integers
    raise TypeError(f"{what} must be all strings or all integers, got {list(values)!r}")


def _iso(value: datetime | date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _range(value: models.RangeInterface | None) -> edge.RangeType | None:
    if value is None:
        return None
    if isinstance(value, models.Range):
        return edge.RangeFloat(gte=value.gte, gt=value.gt, lte=value.lte, lt=value.lt)
    if isinstance(value, models.DatetimeRange):
        return edge.RangeDateTime(
            gte=_iso(value.gte), gt=_iso(value.gt), lte=_iso(value.lte), lt=_iso(value.lt)
        )
    raise unsupported("range", value)


def _geo_point(point: models.GeoPoint) -> edge.GeoPoint:
    return edge.GeoPoint(lon=point.lon, lat=point.lat)


def _geo_box(box: models.GeoBoundingBox | None) -> edge.GeoBoundingBox | None:
    if box is None:
        return None
    return edge.GeoBoundingBox(_geo_point(box.top_left), _geo_point(box.bottom_right))


def _geo_radius(radius: models.GeoRadius | None) -> edge.GeoRadius | None:
    if radius is None:
        return None
    return edge.GeoRadius(_geo_point(radius.center), radius.radius)


def _geo_polygon(polygon: models.GeoPolygon | None) -> edge.GeoPolygon | None:
    if polygon is None:
        return None
    interiors = None
    if polygon.interiors is not None:
        interiors = [[_geo_point(p) for p in ring.points] for ring in polygon.interiors]
    return edge.GeoPolygon([_geo_point(p) for p in polygon.exterior.points], interiors)


def _values_count(count: models.ValuesCount | None) -> edge.ValuesCount | None:
    if count is None:
        return None
    return edge.ValuesCount(lt=count.lt, gt=count.gt, lte=count.lte, gte=count.gte)


def exclude_ids(query_filter: types.Filter | None, ids: set[int | str]) -> types.Filter | None:
    """``query_filter`` that also excludes ``ids`` (a query by point id does not return that
    point, like the server)."""
    if not ids:
        return query_filter
    exclude = models.HasIdCondition(has_id=sorted(ids, key=str))
    if query_filter is None:
        return models.Filter(must_not=[exclude])
    if not isinstance(query_filter, models.Filter):
        raise TypeError(f"filter must be a qdrant_client.models.Filter, got {query_filter!r}")
    must_not = query_filter.must_not
    must_not = [] if must_not is None else (must_not if isinstance(must_not, list) else [must_not])
    return query_filter.model_copy(update={"must_not": [*must_not, exclude]})
