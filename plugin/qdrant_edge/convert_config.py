"""Collection configs and payload index schemas between qdrant-client and Qdrant Edge.

A collection is described as the server's ``CreateCollection``; `collection_to_edge_config`
gives the Edge shard config and `collection_info` what ``get_collection`` reports.

Example:
    >>> from qdrant_client import models
    >>> config = models.CreateCollection(
    ...     vectors=models.VectorParams(size=4, distance=models.Distance.DOT))
    >>> type(collection_to_edge_config(config)).__name__
    'EdgeConfig'
    >>> schema_type_of(models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD))
    <PayloadSchemaType.KEYWORD: 'keyword'>
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import qdrant_edge as edge
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.errors import lookup, unsupported

FieldSchema = models.PayloadSchemaType | models.PayloadSchemaParams
"""A payload index schema as kept and reported: a type name or ``*IndexParams``."""

DEFAULT_HNSW = models.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
DEFAULT_SEARCH_EF = 512
"""``hnsw_ef`` of an Edge search that sets none (at least the collection's ``ef_construct``).

A server's default is ``ef_construct`` (100). ``benchmarks/edge_autoindex.py`` prints recall@10
and p50 at both on 100k MiniLM vectors with near-duplicate copies, indexed in the background
while they were added. At ef 400 one run gave 0.977, below the 0.98 promised; the last run at
ef 512 gave 0.936 at ef 100 and 0.990 at ef 512, +0.50 ms per query."""
_DEFAULT_OPTIMIZERS = models.OptimizersConfig(
    deleted_threshold=0.2, vacuum_min_vector_number=1000, default_segment_number=0,
    flush_interval_sec=5,
)  # fmt: skip

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
_INDEX_PARAMS: dict[type[FieldSchema], Callable[..., edge.PayloadSchemaParams]] = {
    models.KeywordIndexParams: edge.KeywordIndexParams,
    models.IntegerIndexParams: edge.IntegerIndexParams,
    models.FloatIndexParams: edge.FloatIndexParams,
    models.GeoIndexParams: edge.GeoIndexParams,
    models.TextIndexParams: edge.TextIndexParams,
    models.BoolIndexParams: edge.BoolIndexParams,
    models.DatetimeIndexParams: edge.DatetimeIndexParams,
    models.UuidIndexParams: edge.UuidIndexParams,
}
_PARAMS_TYPES = (
    models.KeywordIndexParams, models.IntegerIndexParams, models.FloatIndexParams,
    models.GeoIndexParams, models.TextIndexParams, models.BoolIndexParams,
    models.DatetimeIndexParams, models.UuidIndexParams,
)  # fmt: skip
_TOKENIZER = {t: getattr(edge.TokenizerType, t.name.title()) for t in models.TokenizerType}
_LANGUAGE = {lang: getattr(edge.Language, lang.name.title()) for lang in models.Language}
_SNOWBALL = {
    lang: getattr(edge.SnowballLanguage, lang.name.title()) for lang in models.SnowballLanguage
}


def _memory(value: object) -> edge.Memory | None:
    return None if value is None else lookup(_MEMORY, value, "memory")


def _datatype(value: models.Datatype | str | None) -> edge.VectorStorageDatatype | None:
    return None if value is None else lookup(_DATATYPE, value, "datatype")


# --------------------------------------------------------------------------- collection config


def hnsw_to_edge(diff: models.HnswConfigDiff | models.HnswConfig | None) -> edge.HnswIndexConfig:
    """An HNSW config (or diff over the server defaults) as Edge's full ``HnswIndexConfig``."""
    merged = DEFAULT_HNSW.model_copy(update=diff.model_dump(exclude_none=True) if diff else {})
    return edge.HnswIndexConfig(
        m=merged.m,
        ef_construct=merged.ef_construct,
        full_scan_threshold=merged.full_scan_threshold,
        max_indexing_threads=merged.max_indexing_threads or 0,
        on_disk=merged.on_disk,
        payload_m=merged.payload_m,
        inline_storage=merged.inline_storage,
        memory=_memory(merged.memory),
    )


def quantization_to_edge(
    config: types.QuantizationConfig | None,
) -> edge.QuantizationConfigType | None:
    """Scalar, product or binary quantization (Edge has no turbo quantization)."""
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
            compression=lookup(_COMPRESSION, p.compression, "compression"),
            always_ram=p.always_ram,
            memory=_memory(p.memory),
        )
    if isinstance(config, models.BinaryQuantization):
        b = config.binary
        encoding = None if b.encoding is None else lookup(_BINARY_ENCODING, b.encoding, "enc")
        query_encoding = None
        if b.query_encoding is not None:
            query_encoding = lookup(_BINARY_QUERY_ENCODING, b.query_encoding, "query_encoding")
        return edge.BinaryQuantizationConfig(
            always_ram=b.always_ram,
            encoding=encoding,
            query_encoding=query_encoding,
            memory=_memory(b.memory),
        )
    raise unsupported("quantization config", config)


def vector_params_to_edge(
    params: models.VectorParams, default_hnsw: models.HnswConfigDiff | None
) -> edge.EdgeVectorParams:
    """One dense vector's params; its HNSW diff applies over the collection's."""
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
        distance=lookup(_DISTANCE, params.distance, "distance"),
        on_disk=params.on_disk,
        multivector_config=multivector,
        datatype=_datatype(params.datatype),
        quantization_config=quantization_to_edge(params.quantization_config),
        hnsw_config=hnsw,
        memory=_memory(params.memory),
    )


def sparse_params_to_edge(params: models.SparseVectorParams) -> edge.EdgeSparseVectorParams:
    """One sparse vector's params (IDF modifier, index storage)."""
    index = params.index or models.SparseIndexParams()
    modifier = edge.Modifier.Idf if params.modifier == models.Modifier.IDF else None
    return edge.EdgeSparseVectorParams(
        full_scan_threshold=index.full_scan_threshold,
        on_disk=index.on_disk,
        modifier=modifier,
        datatype=_datatype(index.datatype),
        memory=_memory(index.memory),
    )


def optimizers_to_edge(diff: models.OptimizersConfigDiff | None) -> edge.EdgeOptimizersConfig:
    """The optimizer settings Edge honours (segments, vacuum, indexing threshold)."""
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
    vectors = config.vectors
    dense: edge.EdgeVectorParams | dict[str, edge.EdgeVectorParams] | None = None
    if isinstance(vectors, Mapping):
        dense = {name: vector_params_to_edge(p, config.hnsw_config) for name, p in vectors.items()}
    elif vectors is not None:
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


def collection_info(
    config: models.CreateCollection,
    payload_indexes: Mapping[str, FieldSchema],
    shard: edge.ShardInfo,
) -> models.CollectionInfo:
    """What ``get_collection`` reports: the config it was created with, over Edge's counts."""
    hnsw = DEFAULT_HNSW.model_copy(
        update=(config.hnsw_config or models.HnswConfigDiff()).model_dump(exclude_none=True)
    )
    optimizers = _DEFAULT_OPTIMIZERS.model_copy(
        update=(config.optimizers_config or models.OptimizersConfigDiff()).model_dump(
            exclude_none=True
        )
    )
    edge_schema = shard.payload_schema
    payload_schema = {
        name: models.PayloadIndexInfo(
            data_type=schema_type_of(schema),
            params=None if isinstance(schema, models.PayloadSchemaType) else schema,
            points=edge_schema[name].points if name in edge_schema else 0,
        )
        for name, schema in payload_indexes.items()
    }
    params = models.CollectionParams(
        vectors=config.vectors,
        shard_number=config.shard_number or 1,
        sharding_method=config.sharding_method,
        replication_factor=config.replication_factor or 1,
        write_consistency_factor=config.write_consistency_factor or 1,
        on_disk_payload=True if config.on_disk_payload is None else config.on_disk_payload,
        sparse_vectors=config.sparse_vectors,
    )
    return models.CollectionInfo(
        status=models.CollectionStatus.GREEN,
        optimizer_status=models.OptimizersStatusOneOf.OK,
        indexed_vectors_count=shard.indexed_vectors_count,
        points_count=shard.points_count,
        segments_count=shard.segments_count,
        config=models.CollectionConfig(
            params=params,
            hnsw_config=hnsw,
            optimizer_config=optimizers,
            wal_config=models.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0),
            quantization_config=config.quantization_config,
            strict_mode_config=None,
            metadata=config.metadata,
        ),
        payload_schema=payload_schema,
    )


def search_ef(config: models.CreateCollection) -> int:
    """The ``hnsw_ef`` of a search on a collection that sets none: `DEFAULT_SEARCH_EF`, or the
    collection's ``ef_construct`` when larger (a server's default)."""
    ef_construct = config.hnsw_config.ef_construct if config.hnsw_config else None
    return max(DEFAULT_SEARCH_EF, ef_construct or 0)


def with_search_ef(
    config: models.CreateCollection,
    params: types.SearchParams | None,
    prefetch: types.Prefetch | list[types.Prefetch] | None = None,
) -> tuple[types.SearchParams | None, types.Prefetch | list[types.Prefetch] | None]:
    """``(search_params, prefetch)`` with ``hnsw_ef=search_ef(config)`` wherever a search sets
    no ``hnsw_ef`` (nor ``exact``); new models, the caller's are not changed. Anything else is
    returned as is, for the converters to reject by name."""
    return _with_ef(search_ef(config), params, prefetch)


def request_with_search_ef(
    config: models.CreateCollection, request: models.QueryRequest
) -> models.QueryRequest:
    """One ``query_batch_points`` request with `with_search_ef` applied."""
    params, prefetch = with_search_ef(config, request.params, request.prefetch)
    return request.model_copy(update={"params": params, "prefetch": prefetch})


def _with_ef(
    ef: int,
    params: types.SearchParams | None,
    prefetch: types.Prefetch | list[types.Prefetch] | None,
) -> tuple[types.SearchParams | None, types.Prefetch | list[types.Prefetch] | None]:
    if params is None:
        params = models.SearchParams(hnsw_ef=ef)
    elif isinstance(params, models.SearchParams) and params.hnsw_ef is None and not params.exact:
        params = params.model_copy(update={"hnsw_ef": ef})
    if isinstance(prefetch, models.Prefetch):
        return params, _prefetch_with_ef(ef, prefetch)
    if isinstance(prefetch, list):
        return params, [_prefetch_with_ef(ef, p) for p in prefetch]
    return params, prefetch


def _prefetch_with_ef(ef: int, item: types.Prefetch) -> types.Prefetch:
    if not isinstance(item, models.Prefetch):
        return item
    params, nested = _with_ef(ef, item.params, item.prefetch)
    return item.model_copy(update={"params": params, "prefetch": nested})


# --------------------------------------------------------------------------- payload indexes


def field_schema_of(schema: types.PayloadSchemaType | str) -> FieldSchema:
    """A payload index schema as qdrant-client models (a type name becomes its enum)."""
    if isinstance(schema, models.PayloadSchemaType):
        return schema
    if isinstance(schema, str):
        try:
            return models.PayloadSchemaType(schema)
        except ValueError:
            pass
    if isinstance(schema, _PARAMS_TYPES):
        return schema
    allowed = ", ".join(t.value for t in models.PayloadSchemaType)
    raise TypeError(
        f"field_schema must be a PayloadSchemaType ({allowed}) or an *IndexParams model, "
        f"got {schema!r}"
    )


def field_schema_to_edge(
    schema: FieldSchema,
) -> edge.PayloadSchemaType | edge.PayloadSchemaParams:
    """A payload index schema (see `field_schema_of`) as Edge takes it."""
    if isinstance(schema, models.PayloadSchemaType):
        return lookup(_SCHEMA_TYPE, schema, "field_schema")
    edge_cls = _INDEX_PARAMS[type(schema)]
    # nested models are kept as models (not their dicts): they are converted below
    kwargs: dict[str, object] = {
        key: getattr(schema, key)
        for key, value in schema.model_dump(exclude={"type"}).items()
        if value is not None
    }
    memory = kwargs.get("memory")
    if isinstance(memory, models.Memory):
        kwargs["memory"] = _memory(memory)
    if isinstance(schema, models.TextIndexParams):
        if schema.tokenizer is not None:
            kwargs["tokenizer"] = lookup(_TOKENIZER, schema.tokenizer, "tokenizer")
        if schema.stopwords is not None:
            kwargs["stopwords"] = _stopwords(schema.stopwords)
        if schema.stemmer is not None:
            kwargs["stemmer"] = _stemmer(schema.stemmer)
        if isinstance(schema.scoring, models.TextScoringParams):
            kwargs["scoring"] = edge.TextScoringParams(edge.TextScoringType.Bm25)
    return edge_cls(**kwargs)


def _stopwords(value: models.StopwordsInterface) -> edge.Stopwords:
    if isinstance(value, models.Language):
        return lookup(_LANGUAGE, value, "stopwords")
    languages = None
    if value.languages is not None:
        languages = {lookup(_LANGUAGE, lang, "stopwords") for lang in value.languages}
    return edge.StopwordsSet(languages=languages, custom=set(value.custom or []) or None)


def _stemmer(value: models.StemmingAlgorithm) -> edge.StemmingAlgorithm:
    if isinstance(value, models.SnowballParams):
        return edge.SnowballParams(lookup(_SNOWBALL, value.language, "stemmer language"))
    return edge.DisabledStemmer()


def schema_type_of(schema: FieldSchema) -> models.PayloadSchemaType:
    """The ``PayloadSchemaType`` that ``get_collection`` reports for an index schema."""
    if isinstance(schema, models.PayloadSchemaType):
        return schema
    return models.PayloadSchemaType(schema.type.value)
