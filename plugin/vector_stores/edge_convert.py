"""Pure conversions between qdrant-client REST models and Qdrant Edge (``qdrant_edge``) types.

Every function maps one kind of value and raises ``TypeError``/``NotImplementedError`` naming
what it got for anything Edge cannot express, so a request is never silently narrowed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import qdrant_edge as edge
from qdrant_client.http import models

DEFAULT_HNSW = models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
DEFAULT_RRF_K = 2  # the server's default for Fusion.RRF
DEFAULT_MMR_DIVERSITY = 0.5

_DISTANCE = {
    models.Distance.COSINE: edge.Distance.Cosine,
    models.Distance.EUCLID: edge.Distance.Euclid,
    models.Distance.DOT: edge.Distance.Dot,
    models.Distance.MANHATTAN: edge.Distance.Manhattan,
}
_MEMORY = {
    models.Memory.COLD: edge.Memory.Cold,
    models.Memory.CACHED: edge.Memory.Cached,
    models.Memory.PINNED: edge.Memory.Pinned,
}
_DATATYPE = {
    models.Datatype.FLOAT32: edge.VectorStorageDatatype.Float32,
    models.Datatype.FLOAT16: edge.VectorStorageDatatype.Float16,
    models.Datatype.UINT8: edge.VectorStorageDatatype.Uint8,
    models.Datatype.TURBO8: edge.VectorStorageDatatype.Turbo8,
    models.Datatype.TURBO16: edge.VectorStorageDatatype.Turbo16,
}
_COMPRESSION = {
    models.CompressionRatio.X4: edge.CompressionRatio.X4,
    models.CompressionRatio.X8: edge.CompressionRatio.X8,
    models.CompressionRatio.X16: edge.CompressionRatio.X16,
    models.CompressionRatio.X32: edge.CompressionRatio.X32,
    models.CompressionRatio.X64: edge.CompressionRatio.X64,
}
_BINARY_ENCODING = {
    models.BinaryQuantizationEncoding.ONE_BIT: edge.BinaryQuantizationEncoding.OneBit,
    models.BinaryQuantizationEncoding.TWO_BITS: edge.BinaryQuantizationEncoding.TwoBits,
    models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS: (
        edge.BinaryQuantizationEncoding.OneAndHalfBits
    ),
}
_BINARY_QUERY_ENCODING = {
    models.BinaryQuantizationQueryEncoding.DEFAULT: edge.BinaryQuantizationQueryEncoding.Default,
    models.BinaryQuantizationQueryEncoding.BINARY: edge.BinaryQuantizationQueryEncoding.Binary,
    models.BinaryQuantizationQueryEncoding.SCALAR4BITS: (
        edge.BinaryQuantizationQueryEncoding.Scalar4Bits
    ),
    models.BinaryQuantizationQueryEncoding.SCALAR8BITS: (
        edge.BinaryQuantizationQueryEncoding.Scalar8Bits
    ),
}
_SCHEMA_TYPE = {
    models.PayloadSchemaType.KEYWORD: edge.PayloadSchemaType.Keyword,
    models.PayloadSchemaType.INTEGER: edge.PayloadSchemaType.Integer,
    models.PayloadSchemaType.FLOAT: edge.PayloadSchemaType.Float,
    models.PayloadSchemaType.GEO: edge.PayloadSchemaType.Geo,
    models.PayloadSchemaType.TEXT: edge.PayloadSchemaType.Text,
    models.PayloadSchemaType.BOOL: edge.PayloadSchemaType.Bool,
    models.PayloadSchemaType.DATETIME: edge.PayloadSchemaType.Datetime,
    models.PayloadSchemaType.UUID: edge.PayloadSchemaType.Uuid,
}
_INDEX_PARAMS: dict[type[Any], Any] = {
    models.KeywordIndexParams: edge.KeywordIndexParams,
    models.IntegerIndexParams: edge.IntegerIndexParams,
    models.FloatIndexParams: edge.FloatIndexParams,
    models.GeoIndexParams: edge.GeoIndexParams,
    models.TextIndexParams: edge.TextIndexParams,
    models.BoolIndexParams: edge.BoolIndexParams,
    models.DatetimeIndexParams: edge.DatetimeIndexParams,
    models.UuidIndexParams: edge.UuidIndexParams,
}
_TOKENIZER = {t: getattr(edge.TokenizerType, t.name.title()) for t in models.TokenizerType}
_LANGUAGE = {lang: getattr(edge.Language, lang.name.title()) for lang in models.Language}
_SNOWBALL = {
    lang: getattr(edge.SnowballLanguage, lang.name.title()) for lang in models.SnowballLanguage
}
_UPDATE_MODE = {
    models.UpdateMode.UPSERT: edge.UpdateMode.Upsert,
    models.UpdateMode.INSERT_ONLY: edge.UpdateMode.InsertOnly,
    models.UpdateMode.UPDATE_ONLY: edge.UpdateMode.UpdateOnly,
}
_DIRECTION = {models.Direction.ASC: edge.Direction.Asc, models.Direction.DESC: edge.Direction.Desc}


def _lookup(table: Mapping[Any, Any], value: Any, what: str) -> Any:
    try:
        return table[value]
    except (KeyError, TypeError):
        allowed = ", ".join(str(getattr(k, "value", k)) for k in table)
        raise NotImplementedError(
            f"{what}={value!r} is not supported by Qdrant Edge; allowed: {allowed}"
        ) from None


def _unsupported(what: str, value: Any) -> NotImplementedError:
    return NotImplementedError(
        f"{what} {type(value).__name__} is not supported by the Qdrant Edge backend "
        "(use qdrant-client local mode or a server for it)"
    )


# --------------------------------------------------------------------------- point ids


def point_id_to_edge(point_id: Any) -> int | uuid.UUID:
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


def point_id_from_edge(point_id: Any) -> int | str:
    """Edge returns UUIDs as ``uuid.UUID``; qdrant-client returns them as strings."""
    return str(point_id) if isinstance(point_id, uuid.UUID) else point_id


# --------------------------------------------------------------------------- filters


def filter_to_edge(query_filter: models.Filter | None) -> edge.Filter | None:
    """A qdrant-client ``Filter`` as an Edge ``Filter``; every condition type is mapped."""
    if query_filter is None:
        return None
    if isinstance(query_filter, dict):
        query_filter = models.Filter(**query_filter)
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


def _conditions(conditions: Any) -> list[Any] | None:
    if conditions is None:
        return None
    if not isinstance(conditions, list):
        conditions = [conditions]
    return [condition_to_edge(c) for c in conditions]


def condition_to_edge(condition: Any) -> Any:
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
        return filter_to_edge(condition)
    raise _unsupported("filter condition", condition)


def _match(match: Any) -> Any:
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
    raise _unsupported("match", match)


def _homogeneous(values: Sequence[Any], what: str) -> list[Any]:
    values = list(values)
    if all(isinstance(v, str) for v in values) or all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    ):
        return values
    raise TypeError(f"{what} must be all strings or all integers, got {values!r}")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _range(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, models.Range):
        return edge.RangeFloat(gte=value.gte, gt=value.gt, lte=value.lte, lt=value.lt)
    if isinstance(value, models.DatetimeRange):
        return edge.RangeDateTime(
            gte=_iso(value.gte), gt=_iso(value.gt), lte=_iso(value.lte), lt=_iso(value.lt)
        )
    raise _unsupported("range", value)


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


# --------------------------------------------------------------------------- vectors


def vector_to_edge(vector: Any) -> Any:
    """A dense, multi-dense or sparse vector (lists, numpy or ``SparseVector``)."""
    if isinstance(vector, np.ndarray):
        return vector.astype(np.float32, copy=False).tolist()
    if isinstance(vector, models.SparseVector):
        return edge.SparseVector(indices=list(vector.indices), values=list(vector.values))
    if isinstance(vector, list):
        return vector
    raise _unsupported("vector", vector)


def vector_struct_to_edge(vector: Any) -> Any:
    """A point's vector: one unnamed vector or a mapping of named vectors."""
    if isinstance(vector, Mapping):
        return {name: vector_to_edge(v) for name, v in vector.items()}
    return vector_to_edge(vector)


def vector_from_edge(vector: Any) -> Any:
    if vector is None:
        return None
    if isinstance(vector, dict):
        return {name: vector_from_edge(v) for name, v in vector.items()}
    if isinstance(vector, edge.SparseVector):
        return models.SparseVector(indices=list(vector.indices), values=list(vector.values))
    return vector


def point_to_edge(point: Any) -> edge.Point:
    """A ``PointStruct`` (or a ``Record``) as an Edge ``Point``."""
    if not isinstance(point, (models.PointStruct, models.Record)):
        raise TypeError(f"points must be qdrant_client.models.PointStruct, got {point!r}")
    vector = point.vector if point.vector is not None else {}
    return edge.Point(
        point_id_to_edge(point.id), vector_struct_to_edge(vector), dict(point.payload or {})
    )


def points_to_edge(points: Any) -> list[edge.Point]:
    """``Points``: a list of ``PointStruct`` or a column-wise ``Batch``."""
    if isinstance(points, models.Batch):
        ids = list(points.ids)
        vectors = points.vectors
        if isinstance(vectors, Mapping):
            rows: list[Any] = [{k: vectors[k][i] for k in vectors} for i in range(len(ids))]
        else:
            rows = list(vectors)
        payloads: list[Any] = list(points.payloads) if points.payloads else [None] * len(ids)
        if not len(rows) == len(payloads) == len(ids):
            raise ValueError(
                f"Batch has {len(ids)} ids, {len(rows)} vectors and {len(payloads)} payloads"
            )
        return [
            edge.Point(point_id_to_edge(i), vector_struct_to_edge(v), dict(p or {}))
            for i, v, p in zip(ids, rows, payloads, strict=True)
        ]
    return [point_to_edge(p) for p in points]


# --------------------------------------------------------------------------- read options


def with_payload_to_edge(with_payload: Any) -> Any:
    if isinstance(with_payload, bool):
        return with_payload
    if isinstance(with_payload, models.PayloadSelectorInclude):
        return edge.PayloadSelector.Include(list(with_payload.include))
    if isinstance(with_payload, models.PayloadSelectorExclude):
        return edge.PayloadSelector.Exclude(list(with_payload.exclude))
    if isinstance(with_payload, Sequence) and not isinstance(with_payload, str):
        return list(with_payload)
    raise TypeError(
        f"with_payload must be a bool, a list of keys or a PayloadSelector, got {with_payload!r}"
    )


def with_vectors_to_edge(with_vectors: Any) -> Any:
    if isinstance(with_vectors, bool):
        return with_vectors
    if isinstance(with_vectors, Sequence) and not isinstance(with_vectors, str):
        return list(with_vectors)
    raise TypeError(f"with_vectors must be a bool or a list of names, got {with_vectors!r}")


def search_params_to_edge(params: models.SearchParams | None) -> edge.SearchParams | None:
    if params is None:
        return None
    if isinstance(params, dict):
        params = models.SearchParams(**params)
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
            raise _unsupported("SearchParams.idf", params.idf)
        idf = edge.IdfParams(corpus=filter_to_edge(params.idf.corpus))
    return edge.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=quantization,
        indexed_only=bool(params.indexed_only),
        acorn=acorn,
        idf=idf,
    )


# --------------------------------------------------------------------------- queries


def query_to_edge(query: Any, using: str | None, limit: int) -> Any:
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
            return edge.Fusion.Rrf(k=DEFAULT_RRF_K)
        if query.fusion == models.Fusion.DBSF:
            return edge.Fusion.Dbsf()
        raise _unsupported("fusion", query.fusion)
    if isinstance(query, models.RrfQuery):
        k = DEFAULT_RRF_K if query.rrf.k is None else query.rrf.k
        return edge.Fusion.Rrf(k=k, weights=query.rrf.weights)
    if isinstance(query, models.OrderByQuery):
        return order_by_to_edge(query.order_by)
    if isinstance(query, models.SampleQuery):
        return edge.Sample.Random
    if isinstance(query, models.TextQuery):
        if not using:
            raise ValueError("a TextQuery needs `using`: the text-indexed payload field to rank")
        text = query.text
        if isinstance(text, str):
            return edge.TextQuery(field=using, query=text)
        scoring = None
        if text.scoring is not None:
            scoring = edge.Bm25Params(k=text.scoring.bm25.k, b=text.scoring.bm25.b)
        return edge.TextQuery(field=using, query=text.query, scoring=scoring)
    raise _unsupported("query", query)


def order_by_to_edge(order_by: Any) -> edge.OrderBy | None:
    if order_by is None:
        return None
    if isinstance(order_by, str):
        return edge.OrderBy(key=order_by)
    direction = None if order_by.direction is None else _DIRECTION[order_by.direction]
    start = order_by.start_from
    if isinstance(start, (datetime, date)):
        start = start.isoformat()
    return edge.OrderBy(key=order_by.key, direction=direction, start_from=start)


# --------------------------------------------------------------------------- results


def scored_point_from_edge(point: Any) -> models.ScoredPoint:
    return models.ScoredPoint(
        id=point_id_from_edge(point.id),
        version=point.version,
        score=point.score,
        payload=point.payload,
        vector=vector_from_edge(point.vector),
        order_value=point.order_value,
    )


def record_from_edge(record: Any) -> models.Record:
    return models.Record(
        id=point_id_from_edge(record.id),
        payload=record.payload,
        vector=vector_from_edge(record.vector),
        order_value=record.order_value,
    )


# --------------------------------------------------------------------------- collection config


def hnsw_to_edge(diff: models.HnswConfigDiff | models.HnswConfig | None) -> edge.HnswIndexConfig:
    """An HNSW config (or diff over the server defaults) as Edge's full ``HnswIndexConfig``."""
    merged = DEFAULT_HNSW.model_dump()
    if diff is not None:
        merged.update(diff.model_dump(exclude_none=True))
    memory = merged.get("memory")
    return edge.HnswIndexConfig(
        m=merged["m"],
        ef_construct=merged["ef_construct"],
        full_scan_threshold=merged["full_scan_threshold"],
        max_indexing_threads=merged.get("max_indexing_threads") or 0,
        on_disk=merged.get("on_disk"),
        payload_m=merged.get("payload_m"),
        inline_storage=merged.get("inline_storage"),
        memory=None if memory is None else _lookup(_MEMORY, memory, "memory"),
    )


def _memory(value: Any) -> Any:
    return None if value is None else _lookup(_MEMORY, value, "memory")


def quantization_to_edge(config: Any) -> Any:
    if config is None:
        return None
    if isinstance(config, models.ScalarQuantization):
        s = config.scalar
        return edge.ScalarQuantizationConfig(
            type=edge.ScalarType.Int8,
            quantile=s.quantile,
            always_ram=s.always_ram,
            memory=_memory(s.memory),
        )
    if isinstance(config, models.ProductQuantization):
        p = config.product
        return edge.ProductQuantizationConfig(
            compression=_lookup(_COMPRESSION, p.compression, "compression"),
            always_ram=p.always_ram,
            memory=_memory(p.memory),
        )
    if isinstance(config, models.BinaryQuantization):
        b = config.binary
        return edge.BinaryQuantizationConfig(
            always_ram=b.always_ram,
            encoding=None if b.encoding is None else _lookup(_BINARY_ENCODING, b.encoding, "enc"),
            query_encoding=None
            if b.query_encoding is None
            else _lookup(_BINARY_QUERY_ENCODING, b.query_encoding, "query_encoding"),
            memory=_memory(b.memory),
        )
    raise _unsupported("quantization config", config)


def vector_params_to_edge(
    params: models.VectorParams, default_hnsw: models.HnswConfigDiff | None
) -> edge.EdgeVectorParams:
    if not isinstance(params, models.VectorParams):
        raise TypeError(f"vectors_config must hold models.VectorParams, got {params!r}")
    multivector = None
    if params.multivector_config is not None:
        multivector = edge.MultiVectorConfig(edge.MultiVectorComparator.MaxSim)
    hnsw = None
    if params.hnsw_config is not None:
        base = (default_hnsw or models.HnswConfigDiff()).model_dump(exclude_none=True)
        base.update(params.hnsw_config.model_dump(exclude_none=True))
        hnsw = hnsw_to_edge(models.HnswConfigDiff(**base))
    return edge.EdgeVectorParams(
        size=params.size,
        distance=_lookup(_DISTANCE, params.distance, "distance"),
        on_disk=params.on_disk,
        multivector_config=multivector,
        datatype=None if params.datatype is None else _lookup(_DATATYPE, params.datatype, "dt"),
        quantization_config=quantization_to_edge(params.quantization_config),
        hnsw_config=hnsw,
        memory=_memory(params.memory),
    )


def sparse_params_to_edge(params: models.SparseVectorParams) -> edge.EdgeSparseVectorParams:
    index = params.index or models.SparseIndexParams()
    modifier = edge.Modifier.Idf if params.modifier == models.Modifier.IDF else None
    return edge.EdgeSparseVectorParams(
        full_scan_threshold=index.full_scan_threshold,
        on_disk=index.on_disk,
        modifier=modifier,
        datatype=None if index.datatype is None else _lookup(_DATATYPE, index.datatype, "dt"),
        memory=_memory(index.memory),
    )


def optimizers_to_edge(diff: models.OptimizersConfigDiff | None) -> edge.EdgeOptimizersConfig:
    d = diff or models.OptimizersConfigDiff()
    return edge.EdgeOptimizersConfig(
        deleted_threshold=d.deleted_threshold,
        vacuum_min_vector_number=d.vacuum_min_vector_number,
        default_segment_number=d.default_segment_number,
        max_segment_size=d.max_segment_size,
        indexing_threshold=d.indexing_threshold,
        prevent_unoptimized=d.prevent_unoptimized,
    )


def collection_to_edge_config(config: models.CreateCollection) -> edge.EdgeConfig:
    """The Edge shard config of a collection described as the server's ``CreateCollection``."""
    vectors: Any = config.vectors
    if isinstance(vectors, Mapping):
        dense: Any = {
            name: vector_params_to_edge(p, config.hnsw_config) for name, p in vectors.items()
        }
    else:
        dense = vector_params_to_edge(vectors, config.hnsw_config)
    sparse = {name: sparse_params_to_edge(p) for name, p in (config.sparse_vectors or {}).items()}
    payload_memory = None
    if config.payload is not None and config.payload.memory is not None:
        payload_memory = _memory(config.payload.memory)
    return edge.EdgeConfig(
        vectors=dense or None,
        sparse_vectors=sparse or None,
        on_disk_payload=config.on_disk_payload,
        hnsw_config=hnsw_to_edge(config.hnsw_config),
        quantization_config=quantization_to_edge(config.quantization_config),
        optimizers=optimizers_to_edge(config.optimizers_config),
        payload_memory=payload_memory,
    )


# --------------------------------------------------------------------------- payload indexes


def field_schema_to_edge(schema: Any) -> Any:
    """A payload index schema: a ``PayloadSchemaType`` (or its name) or ``*IndexParams``."""
    if isinstance(schema, str) and not isinstance(schema, models.PayloadSchemaType):
        try:
            schema = models.PayloadSchemaType(schema)
        except ValueError:
            pass
    if isinstance(schema, models.PayloadSchemaType):
        return _lookup(_SCHEMA_TYPE, schema, "field_schema")
    edge_cls = _INDEX_PARAMS.get(type(schema))
    if edge_cls is None:
        allowed = ", ".join(t.value for t in models.PayloadSchemaType)
        raise TypeError(
            f"field_schema must be a PayloadSchemaType ({allowed}) or an *IndexParams model, "
            f"got {schema!r}"
        )
    kwargs = {k: v for k, v in schema.model_dump(exclude={"type"}).items() if v is not None}
    for key in kwargs:
        kwargs[key] = getattr(schema, key)  # keep nested models, not their dicts
    if "memory" in kwargs:
        kwargs["memory"] = _memory(kwargs["memory"])
    if "tokenizer" in kwargs:
        kwargs["tokenizer"] = _lookup(_TOKENIZER, kwargs["tokenizer"], "tokenizer")
    if "stopwords" in kwargs:
        kwargs["stopwords"] = _stopwords(kwargs["stopwords"])
    if "stemmer" in kwargs:
        kwargs["stemmer"] = _stemmer(kwargs["stemmer"])
    if isinstance(kwargs.get("scoring"), models.TextScoringParams):
        kwargs["scoring"] = edge.TextScoringParams(edge.TextScoringType.Bm25)
    return edge_cls(**kwargs)


def _stopwords(value: Any) -> Any:
    if isinstance(value, models.Language):
        return _lookup(_LANGUAGE, value, "stopwords")
    languages = None
    if value.languages is not None:
        languages = {_lookup(_LANGUAGE, lang, "stopwords") for lang in value.languages}
    return edge.StopwordsSet(languages=languages, custom=set(value.custom or []) or None)


def _stemmer(value: Any) -> Any:
    if isinstance(value, models.SnowballParams):
        return edge.SnowballParams(_lookup(_SNOWBALL, value.language, "stemmer language"))
    return edge.DisabledStemmer()


def schema_type_of(schema: Any) -> models.PayloadSchemaType:
    """The ``PayloadSchemaType`` that ``get_collection`` reports for an index schema."""
    if isinstance(schema, models.PayloadSchemaType):
        return schema
    if isinstance(schema, str):
        return models.PayloadSchemaType(schema)
    return models.PayloadSchemaType(schema.type.value)


def update_mode_to_edge(mode: models.UpdateMode | None) -> Any:
    return None if mode is None else _lookup(_UPDATE_MODE, mode, "update_mode")
