"""`EdgeQdrantClient`: qdrant-client's ``QdrantClient`` API on Qdrant Edge, the embedded Rust
engine (HNSW, payload indexes, quantization) instead of local mode's pure-Python brute force.

Code written against ``QdrantClient`` runs unchanged on ``EdgeQdrantClient(path=...)``: the
methods below have ``QdrantClient``'s exact signatures (a test compares them) and take and
return ``qdrant_client.models`` types. The client is a ``QdrantBase`` (the interface every
qdrant-client client implements) built on public qdrant-client API only; the arguments that
describe a cluster (``consistency``, ``ordering``, ``shard_key_selector``, ``timeout``,
``wait``, ``parallel``...) are accepted and have no effect, as in local mode.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as edge
from qdrant_client.conversions import common_types as types

from ragdrop.qdrant_edge import reads
from ragdrop.qdrant_edge.backend import QdrantEdgeLocal
from ragdrop.qdrant_edge.collection_methods import (
    EdgeCollectionMethods,
    completed,
    reject_unknown,
)
from ragdrop.qdrant_edge.convert_config import request_with_search_ef, with_search_ef
from ragdrop.qdrant_edge.convert_filters import (
    filter_to_edge,
    point_id_to_edge,
    selector_to_edge,
)
from ragdrop.qdrant_edge.convert_points import (
    point_to_edge,
    points_to_edge,
    update_mode_to_edge,
    vector_struct_to_edge,
)
from ragdrop.qdrant_edge.convert_queries import QueryInput, resolve_query

_Op = edge.UpdateOperation


def _plain(vector: object) -> object:
    return vector.tolist() if isinstance(vector, np.ndarray) else vector


class EdgeQdrantClient(EdgeCollectionMethods):
    """A qdrant-client client whose storage is Qdrant Edge at ``path`` (one process at a time).

    Implements ``get_collections``, ``collection_exists``, ``get_collection``,
    ``create_collection``, ``recreate_collection``, ``delete_collection``, ``upsert``,
    ``upload_points``, ``upload_collection``, ``query_points``, ``query_batch_points``,
    ``scroll``, ``count``, ``facet``, ``retrieve``, ``delete``, ``set_payload``,
    ``overwrite_payload``, ``delete_payload``, ``clear_payload``, ``update_vectors``,
    ``delete_vectors``, ``create_payload_index``, ``delete_payload_index``, ``info`` and
    ``close``; the collection snapshot methods and the rest of ``QdrantBase`` raise
    ``NotImplementedError`` (nothing is silently ignored).

    Args:
        path: directory of the collections; created 0700 if missing.
        auto_optimize: build the HNSW index in a background thread once writes to a
            collection pause (`ragdrop.qdrant_edge.optimizer`), and at the end of bulk
            uploads; ``False`` leaves it to ``optimize()``. Unindexed points are searched
            exactly, so writes are searchable on return either way. ``get_collection``'s
            status is ``grey`` while a build is due, ``red`` (``optimizer_status.error``)
            after a failed one. A search that sets no ``hnsw_ef`` uses `search_ef` (512).

    Example:
        >>> import tempfile
        >>> from qdrant_client import models
        >>> client = EdgeQdrantClient(path=tempfile.mkdtemp())
        >>> client.create_collection(
        ...     "docs", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
        ... )
        True
        >>> client.upsert("docs", [models.PointStruct(id=1, vector=[1, 0, 0], payload={"a": 1})])
        UpdateResult(operation_id=0, status=<UpdateStatus.COMPLETED: 'completed'>)
        >>> client.query_points("docs", query=[1, 0, 0], limit=1).points[0].id
        1
        >>> client.close()
    """

    def __init__(self, path: str | Path, auto_optimize: bool = True, **kwargs: object) -> None:
        if kwargs:
            raise TypeError(
                f"EdgeQdrantClient takes path and auto_optimize only, got {sorted(kwargs)}; "
                "use QdrantClient for url=/location= connections"
            )
        super().__init__()
        self._engine = QdrantEdgeLocal(path, auto_optimize=auto_optimize)
        # not "path": callers read that key as local mode (brute force, payload indexes and
        # search params ignored), which Edge is not
        self._options: dict[str, object] = {"edge_path": str(path), "auto_optimize": auto_optimize}

    def __del__(self) -> None:
        # like QdrantClient: a dropped client releases its directory
        engine = vars(self).get("_engine")
        if isinstance(engine, QdrantEdgeLocal):
            engine.close()

    # ------------------------------------------------------------------ writes

    def _write(
        self,
        collection_name: str,
        selector: types.PointsSelector | Sequence[types.PointId],
        by_ids: Callable[[list[edge.PointId]], edge.UpdateOperation],
        by_filter: Callable[[edge.Filter], edge.UpdateOperation],
    ) -> types.UpdateResult:
        collection = self._engine.collection(collection_name)
        target = selector_to_edge(selector)
        operation = by_filter(target) if isinstance(target, edge.Filter) else by_ids(target)
        self._engine.update(collection, operation)
        return completed()

    def upsert(
        self,
        collection_name: str,
        points: types.Points,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        update_filter: types.Filter | None = None,
        update_mode: types.UpdateMode | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        edge_points = points_to_edge(points)
        if not edge_points:
            raise ValueError("upsert needs at least one point")
        operation = _Op.upsert_points(
            edge_points,
            condition=filter_to_edge(update_filter),
            update_mode=update_mode_to_edge(update_mode),
        )
        self._engine.update(collection, operation)
        return completed()

    def upload_points(
        self,
        collection_name: str,
        points: Iterable[types.PointStruct],
        batch_size: int = 64,
        parallel: int = 1,
        method: str | None = None,
        max_retries: int = 3,
        wait: bool = False,
        shard_key_selector: types.ShardKeySelector | None = None,
        update_filter: types.Filter | None = None,
        update_mode: types.UpdateMode | None = None,
        **kwargs: object,
    ) -> None:
        # like local mode, uploads are applied (wait=True) before returning; the index is built
        # once at the end, not per batch
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        condition, mode = filter_to_edge(update_filter), update_mode_to_edge(update_mode)
        edge_points = (point_to_edge(p) for p in points)
        self._engine.upload(collection, edge_points, batch_size, condition, mode)

    def upload_collection(
        self,
        collection_name: str,
        vectors: Iterable[types.VectorStruct] | dict[str, types.NumpyArray] | types.NumpyArray,
        payload: Iterable[dict[str, object]] | None = None,
        ids: Iterable[types.PointId] | None = None,
        batch_size: int = 64,
        parallel: int = 1,
        method: str | None = None,
        max_retries: int = 3,
        wait: bool = False,
        shard_key_selector: types.ShardKeySelector | None = None,
        update_filter: types.Filter | None = None,
        update_mode: types.UpdateMode | None = None,
        **kwargs: object,
    ) -> None:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        rows: Iterable[object]
        if isinstance(vectors, Mapping):
            names = list(vectors)
            count = len(vectors[names[0]]) if names else 0
            rows = ({n: _plain(vectors[n][i]) for n in names} for i in range(count))
        else:
            rows = (_plain(v) for v in vectors)
        # ids and payloads may be endless generators: the vectors decide the length
        id_iter: Iterator[types.PointId] = iter(ids) if ids is not None else _random_ids()
        payloads = iter(payload) if payload is not None else _empty_payloads()
        edge_points = (
            edge.Point(point_id_to_edge(i), vector_struct_to_edge(v), dict(p or {}))
            for v, i, p in zip(rows, id_iter, payloads, strict=False)
        )
        condition, mode = filter_to_edge(update_filter), update_mode_to_edge(update_mode)
        self._engine.upload(collection, edge_points, batch_size, condition, mode)

    def delete(
        self,
        collection_name: str,
        points_selector: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        return self._write(
            collection_name, points_selector, _Op.delete_points, _Op.delete_points_by_filter
        )

    def set_payload(
        self,
        collection_name: str,
        payload: types.Payload,
        points: types.PointsSelector,
        key: str | None = None,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        values = dict(payload)
        return self._write(
            collection_name,
            points,
            lambda ids: _Op.set_payload(ids, values, key),
            lambda flt: _Op.set_payload_by_filter(flt, values, key),
        )

    def overwrite_payload(
        self,
        collection_name: str,
        payload: types.Payload,
        points: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        values = dict(payload)
        return self._write(
            collection_name,
            points,
            lambda ids: _Op.overwrite_payload(ids, values),
            lambda flt: _Op.overwrite_payload_by_filter(flt, values),
        )

    def delete_payload(
        self,
        collection_name: str,
        keys: Sequence[str],
        points: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        names = list(keys)
        return self._write(
            collection_name,
            points,
            lambda ids: _Op.delete_payload(ids, names),
            lambda flt: _Op.delete_payload_by_filter(flt, names),
        )

    def clear_payload(
        self,
        collection_name: str,
        points_selector: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        return self._write(
            collection_name, points_selector, _Op.clear_payload, _Op.clear_payload_by_filter
        )

    def update_vectors(
        self,
        collection_name: str,
        points: Sequence[types.PointVectors],
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        update_filter: types.Filter | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        vectors = [
            edge.PointVectors(point_id_to_edge(p.id), vector_struct_to_edge(p.vector))
            for p in points
        ]
        self._engine.update(collection, _Op.update_vectors(vectors, filter_to_edge(update_filter)))
        return completed()

    def delete_vectors(
        self,
        collection_name: str,
        vectors: Sequence[str],
        points: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        names = list(vectors)
        return self._write(
            collection_name,
            points,
            lambda ids: _Op.delete_vectors(ids, names),
            lambda flt: _Op.delete_vectors_by_filter(flt, names),
        )

    # ------------------------------------------------------------------ reads

    def query_points(
        self,
        collection_name: str,
        query: QueryInput = None,
        using: str | None = None,
        prefetch: types.Prefetch | list[types.Prefetch] | None = None,
        query_filter: types.Filter | None = None,
        search_params: types.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: types.WithPayloadInterface = True,
        with_vectors: types.WithVector = False,
        score_threshold: float | None = None,
        lookup_from: types.LookupLocation | None = None,
        consistency: types.ReadConsistency | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.QueryResponse:
        reject_unknown(kwargs)
        resolved = resolve_query(query)
        collection = self._engine.collection(collection_name)
        search_params, prefetch = with_search_ef(collection.config, search_params, prefetch)
        request = reads.query_request(
            collection, resolved, using, prefetch, query_filter, search_params, limit, offset,
            with_payload, with_vectors, score_threshold, lookup_from,
        )  # fmt: skip
        return reads.run_query(collection, request)

    def query_batch_points(
        self,
        collection_name: str,
        requests: Sequence[types.QueryRequest],
        consistency: types.ReadConsistency | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> list[types.QueryResponse]:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        requests = [request_with_search_ef(collection.config, r) for r in requests]
        edge_requests = [reads.batch_request(collection, r) for r in requests]
        return reads.run_batch(collection, edge_requests)

    def scroll(
        self,
        collection_name: str,
        scroll_filter: types.Filter | None = None,
        limit: int = 10,
        order_by: types.OrderBy | None = None,
        offset: types.PointId | None = None,
        with_payload: types.WithPayloadInterface = True,
        with_vectors: types.WithVector = False,
        consistency: types.ReadConsistency | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> tuple[list[types.Record], types.PointId | None]:
        reject_unknown(kwargs)
        reads.check_limit(limit)
        collection = self._engine.collection(collection_name)
        return reads.scroll(
            collection, scroll_filter, limit, order_by, offset, with_payload, with_vectors
        )

    def count(
        self,
        collection_name: str,
        count_filter: types.Filter | None = None,
        exact: bool = True,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.CountResult:
        reject_unknown(kwargs)
        return reads.count(self._engine.collection(collection_name), count_filter, exact)

    def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: types.Filter | None = None,
        limit: int = 10,
        exact: bool = False,
        consistency: types.ReadConsistency | None = None,
        timeout: int | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        **kwargs: object,
    ) -> types.FacetResponse:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        return reads.facet(collection, key, facet_filter, limit, exact)

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[types.PointId],
        with_payload: types.WithPayloadInterface = True,
        with_vectors: types.WithVector = False,
        consistency: types.ReadConsistency | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> list[types.Record]:
        reject_unknown(kwargs)
        collection = self._engine.collection(collection_name)
        return reads.retrieve(collection, ids, with_payload, with_vectors)


def _random_ids() -> Iterator[str]:
    while True:
        yield str(uuid.uuid4())


def _empty_payloads() -> Iterator[dict[str, object]]:
    while True:
        yield {}
