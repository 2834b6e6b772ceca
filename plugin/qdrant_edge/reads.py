"""Read requests on one Edge collection, built from qdrant-client arguments.

A query by point id is run as a query by that point's vector, without the point itself, as the
server does; prefetches nest the same way. Every function takes the `EdgeCollection` to read.

Example:
    >>> import tempfile
    >>> from qdrant_client import models
    >>> from ragdrop.qdrant_edge.backend import QdrantEdgeLocal
    >>> engine = QdrantEdgeLocal(tempfile.mkdtemp())
    >>> engine.create_collection("docs", models.CreateCollection(
    ...     vectors=models.VectorParams(size=2, distance=models.Distance.DOT)))
    >>> engine.update(engine.collection("docs"), edge.UpdateOperation.upsert_points(
    ...     [edge.Point(1, [1.0, 0.0]), edge.Point(2, [0.9, 0.1])]))
    >>> request = query_request(engine.collection("docs"), models.NearestQuery(nearest=1), limit=5)
    >>> [p.id for p in run_query(engine.collection("docs"), request).points]
    [2]
    >>> engine.close()
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import qdrant_edge as edge
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.convert_filters import (
    exclude_ids,
    filter_to_edge,
    point_id_from_edge,
    point_id_to_edge,
)
from ragdrop.qdrant_edge.convert_points import record_from_edge, scored_point_from_edge
from ragdrop.qdrant_edge.convert_queries import (
    order_by_to_edge,
    query_to_edge,
    resolve_query,
    search_params_to_edge,
    with_payload_to_edge,
    with_vectors_to_edge,
)
from ragdrop.qdrant_edge.errors import edge_call
from ragdrop.qdrant_edge.storage import EdgeCollection

DEFAULT_PREFETCH_LIMIT = 10


def check_limit(limit: int) -> None:
    """qdrant-client's check (and message) for a result ``limit``."""
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit value {limit!r} is invalid. Must be 1 or larger.")


def _vector_of(
    collection: EdgeCollection, point_id: int | str, using: str | None
) -> edge.NamedVector:
    name = using or ""
    records = edge_call(collection.shard.retrieve, [point_id_to_edge(point_id)], False, [name])
    if not records:
        raise ValueError(f"No point with id {point_id!r} in collection {collection.name}")
    vector = records[0].vector
    if isinstance(vector, dict):
        return vector[name]
    if vector is None:
        raise ValueError(f"Point {point_id!r} has no vector {name!r} in {collection.name}")
    return vector


def _resolve(
    collection: EdgeCollection,
    query: models.QueryInterface | models.Query | None,
    using: str | None,
) -> tuple[models.Query | None, set[int | str]]:
    """Replace a point id in a nearest query by its vector; return the ids to exclude."""
    resolved = resolve_query(query)
    if isinstance(resolved, models.NearestQuery) and isinstance(
        resolved.nearest, (int, str, uuid.UUID)
    ):
        nearest = resolved.nearest
        point_id = str(nearest) if isinstance(nearest, uuid.UUID) else nearest
        vector = _vector_of(collection, point_id, using)
        if isinstance(vector, edge.SparseVector):
            sparse = models.SparseVector(indices=vector.indices, values=vector.values)
            return resolved.model_copy(update={"nearest": sparse}), {point_id}
        return resolved.model_copy(update={"nearest": vector}), {point_id}
    return resolved, set()


def _prefetches(
    collection: EdgeCollection, prefetch: types.Prefetch | Sequence[types.Prefetch] | None
) -> list[edge.Prefetch] | None:
    if prefetch is None:
        return None
    items = [prefetch] if isinstance(prefetch, models.Prefetch) else list(prefetch)
    out = []
    for item in items:
        if item.lookup_from is not None:
            raise NotImplementedError("Prefetch.lookup_from is not supported by Qdrant Edge")
        limit = item.limit if item.limit is not None else DEFAULT_PREFETCH_LIMIT
        query, exclude = _resolve(collection, item.query, item.using)
        out.append(
            edge.Prefetch(
                limit=limit,
                query=query_to_edge(query, item.using, limit),
                prefetches=_prefetches(collection, item.prefetch),
                params=search_params_to_edge(item.params),
                filter=filter_to_edge(exclude_ids(item.filter, exclude)),
                score_threshold=item.score_threshold,
            )
        )
    return out


def query_request(
    collection: EdgeCollection,
    query: models.QueryInterface | models.Query | None = None,
    using: str | None = None,
    prefetch: types.Prefetch | Sequence[types.Prefetch] | None = None,
    query_filter: types.Filter | None = None,
    search_params: types.SearchParams | None = None,
    limit: int = 10,
    offset: int | None = None,
    with_payload: types.WithPayloadInterface = True,
    with_vectors: types.WithVector = False,
    score_threshold: float | None = None,
    lookup_from: types.LookupLocation | None = None,
) -> edge.QueryRequest:
    """The Edge request for ``query_points`` arguments (point ids resolved to vectors)."""
    check_limit(limit)
    if offset is not None and offset < 0:
        raise ValueError(f"offset value {offset!r} is invalid. Must be 0 or larger.")
    if lookup_from is not None:
        raise NotImplementedError("lookup_from is not supported by the Qdrant Edge backend")
    if prefetch and query is None:
        raise ValueError("A query is needed to merge the prefetches.")
    resolved, exclude = _resolve(collection, query, using)
    return edge.QueryRequest(
        limit=limit,
        offset=offset,
        query=query_to_edge(resolved, using, limit),
        prefetches=_prefetches(collection, prefetch),
        with_vector=with_vectors_to_edge(with_vectors),
        with_payload=with_payload_to_edge(with_payload),
        filter=filter_to_edge(exclude_ids(query_filter, exclude)),
        score_threshold=score_threshold,
        params=search_params_to_edge(search_params),
    )


def batch_request(collection: EdgeCollection, request: models.QueryRequest) -> edge.QueryRequest:
    """The Edge request for one ``QueryRequest`` of ``query_batch_points``."""
    return query_request(
        collection,
        query=request.query,
        using=request.using,
        prefetch=request.prefetch,
        query_filter=request.filter,
        search_params=request.params,
        limit=request.limit if request.limit is not None else 10,
        offset=request.offset,
        with_payload=request.with_payload if request.with_payload is not None else False,
        with_vectors=request.with_vector if request.with_vector is not None else False,
        score_threshold=request.score_threshold,
        lookup_from=request.lookup_from,
    )


def run_query(collection: EdgeCollection, request: edge.QueryRequest) -> models.QueryResponse:
    """Run one query request."""
    points = edge_call(collection.shard.query, request)
    return models.QueryResponse(points=[scored_point_from_edge(p) for p in points])


def run_batch(
    collection: EdgeCollection, requests: list[edge.QueryRequest]
) -> list[models.QueryResponse]:
    """Run query requests in one Edge batch."""
    if not requests:
        return []
    results = edge_call(collection.shard.query_batch, edge.QueryBatchRequest(requests))
    return [
        models.QueryResponse(points=[scored_point_from_edge(p) for p in points])
        for points in results
    ]


def scroll(
    collection: EdgeCollection,
    scroll_filter: types.Filter | None,
    limit: int,
    order_by: types.OrderBy | None,
    offset: types.PointId | None,
    with_payload: types.WithPayloadInterface,
    with_vectors: types.WithVector,
) -> tuple[list[models.Record], int | str | None]:
    """One page of points and the offset of the next page (``None`` at the end)."""
    check_limit(limit)
    request = edge.ScrollRequest(
        offset=None if offset is None else point_id_to_edge(offset),
        limit=limit,
        filter=filter_to_edge(scroll_filter),
        with_payload=with_payload_to_edge(with_payload),
        with_vector=with_vectors_to_edge(with_vectors),
        order_by=order_by_to_edge(order_by),
    )
    records, next_offset = edge_call(collection.shard.scroll, request)
    next_id = None if next_offset is None else point_id_from_edge(next_offset)
    return [record_from_edge(r) for r in records], next_id


def count(
    collection: EdgeCollection, count_filter: types.Filter | None, exact: bool
) -> models.CountResult:
    """How many points match ``count_filter``."""
    request = edge.CountRequest(filter=filter_to_edge(count_filter), exact=exact)
    return models.CountResult(count=edge_call(collection.shard.count, request))


def facet(
    collection: EdgeCollection,
    key: str,
    facet_filter: types.Filter | None,
    limit: int,
    exact: bool,
) -> models.FacetResponse:
    """The most frequent values of payload field ``key`` with their counts."""
    request = edge.FacetRequest(
        key=key, limit=limit, exact=exact, filter=filter_to_edge(facet_filter)
    )
    response = edge_call(collection.shard.facet, request)
    return models.FacetResponse(
        hits=[models.FacetValueHit(value=h.value, count=h.count) for h in response.hits]
    )


def retrieve(
    collection: EdgeCollection,
    ids: Sequence[types.PointId],
    with_payload: types.WithPayloadInterface,
    with_vectors: types.WithVector,
) -> list[models.Record]:
    """The points with ``ids`` (missing ids are left out)."""
    records = edge_call(
        collection.shard.retrieve,
        [point_id_to_edge(i) for i in ids],
        with_payload_to_edge(with_payload),
        with_vectors_to_edge(with_vectors),
    )
    return [record_from_edge(r) for r in records]
