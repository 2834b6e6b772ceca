"""qdrant-client query requests as Qdrant Edge scoring queries and read options.

`resolve_query` reads a query the way ``QdrantClient.query_points`` does (a vector, a point id or
a ``models.Query``); `query_to_edge` maps a resolved query, once any point id in it has been
replaced by that point's vector.

Example:
    >>> resolve_query([1.0, 0.0])
    NearestQuery(nearest=[1.0, 0.0], mmr=None)
    >>> type(query_to_edge(resolve_query([1.0, 0.0]), using=None, limit=3)).__name__
    'Nearest'
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import cast

import numpy as np
import qdrant_edge as edge
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.convert_filters import filter_to_edge
from ragdrop.qdrant_edge.convert_points import vector_to_edge
from ragdrop.qdrant_edge.errors import lookup, unsupported

DEFAULT_RRF_K = 2  # the server's default for Fusion.RRF
DEFAULT_MMR_DIVERSITY = 0.5

QueryInput = (
    types.PointId
    | list[float]
    | list[list[float]]
    | types.SparseVector
    | types.Query
    | types.NumpyArray
    | types.Document
    | types.Image
    | types.InferenceObject
    | None
)
"""What ``QdrantClient.query_points`` takes as ``query``."""

_QUERY_TYPES = typing.get_args(models.Query)
_DIRECTION = {models.Direction.ASC: edge.Direction.Asc, models.Direction.DESC: edge.Direction.Desc}


def resolve_query(query: QueryInput | models.QueryInterface) -> models.Query | None:
    """A ``models.Query`` for ``query``: vectors and point ids become a ``NearestQuery``."""
    if query is None or isinstance(query, _QUERY_TYPES):
        return query
    if isinstance(query, np.ndarray):
        return models.NearestQuery(nearest=query.tolist())
    if isinstance(query, (models.SparseVector, list, int, str, uuid.UUID)):
        return models.NearestQuery(nearest=query)
    if isinstance(query, (models.Document, models.Image, models.InferenceObject)):
        raise NotImplementedError(
            f"{type(query).__name__} queries need model inference, which the Qdrant Edge "
            "backend does not run: embed the query and pass its vector"
        )
    raise ValueError(f"Unsupported query type: {type(query)}")


def query_to_edge(
    query: models.Query | None, using: str | None, limit: int
) -> edge.ScoringQueryType | None:
    """A resolved ``Query`` (ids already replaced by vectors) as an Edge scoring query."""
    if query is None:
        return None
    if isinstance(query, models.NearestQuery):
        vector = vector_to_edge(query.nearest)
        if query.mmr is not None:
            diversity = query.mmr.diversity
            diversity = DEFAULT_MMR_DIVERSITY if diversity is None else diversity
            candidates = query.mmr.candidates_limit
            return edge.Mmr(
                vector,
                lambda_=1.0 - diversity,
                candidates_limit=limit if candidates is None else candidates,
                using=using,
            )
        return edge.Query.Nearest(vector, using=using)
    if isinstance(query, models.FusionQuery):
        if query.fusion == models.Fusion.RRF:
            return _fusion(edge.Fusion.Rrf(k=DEFAULT_RRF_K))
        if query.fusion == models.Fusion.DBSF:
            return _fusion(edge.Fusion.Dbsf())
        raise unsupported("fusion", query.fusion)
    if isinstance(query, models.RrfQuery):
        k = DEFAULT_RRF_K if query.rrf.k is None else query.rrf.k
        return _fusion(edge.Fusion.Rrf(k=k, weights=query.rrf.weights))
    if isinstance(query, models.OrderByQuery):
        return order_by_to_edge(query.order_by)
    if isinstance(query, models.SampleQuery):
        return edge.Sample.Random
    if isinstance(query, models.TextQuery):
        return _text_query(query, using)
    raise unsupported("query", query)


def _fusion(fusion: edge.Fusion.Rrf | edge.Fusion.Dbsf) -> edge.Fusion:
    # qdrant-edge-py 0.9's stubs type a request's fusion as ``Fusion``; at run time it is an
    # instance of the nested class (``Fusion.Rrf``/``Fusion.Dbsf``), which they do not list
    return cast("edge.Fusion", fusion)


def _text_query(query: models.TextQuery, using: str | None) -> edge.TextQuery:
    if not using:
        raise ValueError("a TextQuery needs `using`: the text-indexed payload field to rank")
    text = query.text
    if isinstance(text, str):
        return edge.TextQuery(field=using, query=text)
    scoring = None
    if text.scoring is not None:
        scoring = edge.Bm25Params(k=text.scoring.bm25.k, b=text.scoring.bm25.b)
    return edge.TextQuery(field=using, query=text.query, scoring=scoring)


def order_by_to_edge(order_by: types.OrderBy | None) -> edge.OrderBy | None:
    """Ordering by a payload key (a key name or a ``models.OrderBy``)."""
    if order_by is None:
        return None
    if isinstance(order_by, str):
        return edge.OrderBy(key=order_by)
    if not isinstance(order_by, models.OrderBy):
        raise TypeError(
            f"order_by must be a key or a qdrant_client.models.OrderBy, got {order_by!r}"
        )
    direction = None
    if order_by.direction is not None:
        direction = lookup(_DIRECTION, order_by.direction, "direction")
    start = order_by.start_from
    start_from = start.isoformat() if isinstance(start, (datetime, date)) else start
    return edge.OrderBy(key=order_by.key, direction=direction, start_from=start_from)


def with_payload_to_edge(with_payload: types.WithPayloadInterface) -> edge.WithPayloadType:
    """Which payload to return: all, none, some keys, or a selector."""
    if isinstance(with_payload, bool):
        return with_payload
    if isinstance(with_payload, models.PayloadSelectorInclude):
        return edge.PayloadSelector.Include(list(with_payload.include))
    if isinstance(with_payload, models.PayloadSelectorExclude):
        return edge.PayloadSelector.Exclude(list(with_payload.exclude))
    if isinstance(with_payload, Sequence) and not isinstance(with_payload, str):
        return [str(key) for key in with_payload]
    raise TypeError(
        f"with_payload must be a bool, a list of keys or a PayloadSelector, got {with_payload!r}"
    )


def with_vectors_to_edge(with_vectors: types.WithVector) -> edge.WithVectorType:
    """Which vectors to return: all, none, or some names."""
    if isinstance(with_vectors, bool):
        return with_vectors
    if isinstance(with_vectors, Sequence) and not isinstance(with_vectors, str):
        return [str(name) for name in with_vectors]
    raise TypeError(f"with_vectors must be a bool or a list of names, got {with_vectors!r}")


def search_params_to_edge(
    params: types.SearchParams | Mapping[str, object] | None,
) -> edge.SearchParams | None:
    """HNSW, quantization, ACORN and IDF search settings."""
    if params is None:
        return None
    if isinstance(params, Mapping):
        params = models.SearchParams.model_validate(params)
    if not isinstance(params, models.SearchParams):
        raise TypeError(
            f"search_params must be a qdrant_client.models.SearchParams, got {params!r}"
        )
    quantization = None
    if params.quantization is not None:
        q = params.quantization
        quantization = edge.QuantizationSearchParams(
            ignore=bool(q.ignore), rescore=q.rescore, oversampling=q.oversampling
        )
    acorn = None
    if params.acorn is not None:
        acorn = edge.AcornSearchParams(
            enable=bool(params.acorn.enable), max_selectivity=params.acorn.max_selectivity
        )
    idf = None
    if params.idf is not None:
        if not isinstance(params.idf, models.IdfCorpusParams):
            raise unsupported("SearchParams.idf", params.idf)
        idf = edge.IdfParams(corpus=filter_to_edge(params.idf.corpus))
    return edge.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=quantization,
        indexed_only=bool(params.indexed_only),
        acorn=acorn,
        idf=idf,
    )
