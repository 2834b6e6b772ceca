"""Points and vectors between qdrant-client models and Qdrant Edge, both ways.

Dense vectors may be lists or numpy arrays; sparse vectors are ``models.SparseVector``; a point's
vector is one unnamed vector or a mapping of named ones.

Example:
    >>> from qdrant_client import models
    >>> point = point_to_edge(models.PointStruct(id=1, vector={"v": [1.0, 0.0]}, payload={"a": 1}))
    >>> point.id, point.payload
    (1, {'a': 1})
    >>> vector_from_edge({"s": vector_to_edge(models.SparseVector(indices=[3], values=[0.5]))})
    {'s': SparseVector(indices=[3], values=[0.5])}
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import qdrant_edge as edge
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.convert_filters import point_id_from_edge, point_id_to_edge
from ragdrop.qdrant_edge.errors import lookup, unsupported

_UPDATE_MODE = {
    models.UpdateMode.UPSERT: edge.UpdateMode.Upsert,
    models.UpdateMode.INSERT_ONLY: edge.UpdateMode.InsertOnly,
    models.UpdateMode.UPDATE_ONLY: edge.UpdateMode.UpdateOnly,
}


def vector_to_edge(vector: object) -> edge.NamedVector:
    """A dense, multi-dense or sparse vector (lists, numpy or ``SparseVector``)."""
    if isinstance(vector, np.ndarray):
        dense: list[float] | list[list[float]] = vector.astype(np.float32, copy=False).tolist()
        return dense
    if isinstance(vector, models.SparseVector):
        return edge.SparseVector(indices=list(vector.indices), values=list(vector.values))
    if isinstance(vector, list):
        return vector
    raise unsupported("vector", vector)


def vector_struct_to_edge(vector: object) -> edge.Vector:
    """A point's vector: one unnamed (dense) vector or a mapping of named vectors."""
    if isinstance(vector, Mapping):
        return {name: vector_to_edge(v) for name, v in vector.items()}
    unnamed = vector_to_edge(vector)
    if isinstance(unnamed, edge.SparseVector):
        raise TypeError("a sparse vector must be named: pass {name: SparseVector(...)}")
    return unnamed


def _named_from_edge(vector: edge.NamedVector) -> models.VectorOutput:
    if isinstance(vector, edge.SparseVector):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return vector


def vector_from_edge(vector: edge.Vector | None) -> models.VectorStructOutput | None:
    """A vector read back from Edge as qdrant-client returns it."""
    if isinstance(vector, dict):
        return {name: _named_from_edge(v) for name, v in vector.items()}
    return vector


def point_to_edge(point: object) -> edge.Point:
    """A ``PointStruct`` (or a ``Record``) as an Edge ``Point``."""
    if not isinstance(point, (models.PointStruct, models.Record)):
        raise TypeError(f"points must be qdrant_client.models.PointStruct, got {point!r}")
    vector = point.vector if point.vector is not None else {}
    return edge.Point(
        point_id_to_edge(point.id), vector_struct_to_edge(vector), dict(point.payload or {})
    )


def points_to_edge(points: types.Points) -> list[edge.Point]:
    """``Points``: a list of ``PointStruct`` or a column-wise ``Batch``."""
    if not isinstance(points, models.Batch):
        return [point_to_edge(p) for p in points]
    ids = list(points.ids)
    vectors = points.vectors
    rows: list[object]
    if isinstance(vectors, Mapping):
        rows = [{k: vectors[k][i] for k in vectors} for i in range(len(ids))]
    else:
        rows = list(vectors)
    payloads = list(points.payloads) if points.payloads else [None] * len(ids)
    if not len(rows) == len(payloads) == len(ids):
        raise ValueError(
            f"Batch has {len(ids)} ids, {len(rows)} vectors and {len(payloads)} payloads"
        )
    return [
        edge.Point(point_id_to_edge(i), vector_struct_to_edge(v), dict(p or {}))
        for i, v, p in zip(ids, rows, payloads, strict=True)
    ]


def scored_point_from_edge(point: edge.ScoredPoint) -> models.ScoredPoint:
    """A query hit as qdrant-client's ``ScoredPoint``."""
    return models.ScoredPoint(
        id=point_id_from_edge(point.id),
        version=point.version,
        score=point.score,
        payload=point.payload,
        vector=vector_from_edge(point.vector),
        order_value=point.order_value,
    )


def record_from_edge(record: edge.Record) -> models.Record:
    """A stored point as qdrant-client's ``Record``."""
    return models.Record(
        id=point_id_from_edge(record.id),
        payload=record.payload,
        vector=vector_from_edge(record.vector),
        order_value=record.order_value,
    )


def update_mode_to_edge(mode: types.UpdateMode | None) -> edge.UpdateMode | None:
    """How an upsert treats existing points (upsert, insert only, update only)."""
    return None if mode is None else lookup(_UPDATE_MODE, mode, "update_mode")
