"""``QdrantEdgeLocal``: the ``QdrantBase`` implementation on Qdrant Edge behind ``EdgeQdrantClient``.

Edge has one shard per directory; each collection is one shard under
``<path>/collections/<name>/shard`` with its qdrant-client config beside it as JSON, so the
collection reports the same ``CollectionInfo`` it was created with. Edge builds its HNSW index only
when asked (``EdgeShard.optimize``); with ``auto_optimize`` (default) writes rebuild it as points
arrive (amortised, see ``QdrantEdgeLocal._written``) and bulk uploads at their end.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import typing
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as edge
from qdrant_client.client_base import QdrantBase
from qdrant_client.http import models
from ragdrop.cache.safe_cache import ensure_private_dir
from ragdrop.vector_stores import edge_convert as conv

STORAGE_MARKER = "ragdrop-edge.json"
STORAGE_FORMAT = 1
LOCAL_MODE_MARKER = "meta.json"  # what qdrant-client local mode writes at the root of its path
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_DEFAULT_PREFETCH_LIMIT = 10


class EdgeStorageError(RuntimeError):
    """The Edge storage directory is locked, foreign or damaged."""


@dataclass
class _Collection:
    """One collection: its Edge shard and the qdrant-client config it was created with."""

    name: str
    path: Path
    config: models.CreateCollection
    shard: Any
    payload_indexes: dict[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        meta = {
            "config": self.config.model_dump(mode="json", exclude_none=True),
            "payload_indexes": {
                name: schema if isinstance(schema, str) else schema.model_dump(mode="json")
                for name, schema in self.payload_indexes.items()
            },
        }
        tmp = self.path / "collection.json.tmp"
        tmp.write_text(json.dumps(meta, sort_keys=True))
        tmp.replace(self.path / "collection.json")


_INDEX_PARAMS_BY_TYPE: dict[str, type[Any]] = {
    "keyword": models.KeywordIndexParams,
    "integer": models.IntegerIndexParams,
    "float": models.FloatIndexParams,
    "geo": models.GeoIndexParams,
    "text": models.TextIndexParams,
    "bool": models.BoolIndexParams,
    "datetime": models.DatetimeIndexParams,
    "uuid": models.UuidIndexParams,
}


def _load_schema(value: Any) -> Any:
    if isinstance(value, str):
        return models.PayloadSchemaType(value)
    params_cls = _INDEX_PARAMS_BY_TYPE.get(value.get("type"))
    if params_cls is None:
        raise EdgeStorageError(f"unknown payload index schema in collection.json: {value!r}")
    return params_cls.model_validate(value)


def _edge_call(fn: Any, *args: Any) -> Any:
    """Call Edge; its errors are plain ``Exception``s, re-raised as ``ValueError``."""
    try:
        return fn(*args)
    except (TypeError, ValueError, NotImplementedError):
        raise
    except Exception as exc:  # Edge raises bare Exception for every engine error
        raise ValueError(f"Qdrant Edge rejected the request: {exc}") from exc


class QdrantEdgeLocal(QdrantBase):
    """The ``QdrantBase`` implementation behind ``EdgeQdrantClient`` (like ``QdrantLocal``).

    Args:
        path: directory holding the collections (created 0700).
        auto_optimize: keep the HNSW index built as points arrive (see ``_written``).
    """

    def __init__(self, path: str | Path, auto_optimize: bool = True) -> None:
        super().__init__()
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
        if not str(path).strip():
            raise ValueError(f"path must name a directory, got {path!r}")
        self.location = Path(path).expanduser()
        self.auto_optimize = auto_optimize
        self._lock = threading.RLock()
        self._closed = False
        self.collections: dict[str, _Collection] = {}
        self._open_storage()

    # ------------------------------------------------------------------ storage

    def _open_storage(self) -> None:
        if (self.location / LOCAL_MODE_MARKER).exists():
            raise EdgeStorageError(
                f"{str(self.location)!r} holds a qdrant-client local-mode storage, not an Edge one; "
                "open it with QdrantClient(path=...) and move it with the store's backup/restore, "
                "or choose an empty directory for Edge"
            )
        ensure_private_dir(self.location)
        marker = self.location / STORAGE_MARKER
        if marker.exists():
            meta = json.loads(marker.read_text())
            if meta.get("format") != STORAGE_FORMAT:
                raise EdgeStorageError(
                    f"{str(marker)!r} has storage format {meta.get('format')!r}; this version "
                    f"reads format {STORAGE_FORMAT}"
                )
        else:
            marker.write_text(json.dumps({"format": STORAGE_FORMAT, "engine": "qdrant-edge"}))
        root = self.location / "collections"
        root.mkdir(exist_ok=True, mode=0o700)
        try:
            for directory in sorted(p for p in root.iterdir() if p.is_dir()):
                if (directory / "collection.json").exists():
                    self._load_collection(directory)
        except Exception:
            self.close()
            raise

    def _load_collection(self, directory: Path) -> None:
        meta = json.loads((directory / "collection.json").read_text())
        config = models.CreateCollection.model_validate(meta["config"])
        try:
            shard = edge.EdgeShard.load(str(directory / "shard"))
        except Exception as exc:  # the WAL lock is the usual cause
            raise EdgeStorageError(
                f"cannot open Edge collection at {str(directory)!r}: {exc}. Only one client may "
                "open an Edge storage at a time: close the other EdgeQdrantClient (or process) "
                "first, or use a Qdrant server for concurrent access"
            ) from exc
        indexes = {k: _load_schema(v) for k, v in meta.get("payload_indexes", {}).items()}
        self.collections[directory.name] = _Collection(
            directory.name, directory, config, shard, indexes
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, **kwargs: Any) -> None:
        with self._lock:
            for collection in self.collections.values():
                collection.shard.close()
            self.collections.clear()
            self._closed = True

    def _get(self, collection_name: str) -> _Collection:
        if self._closed:
            raise RuntimeError("EdgeQdrantClient is closed; create a new one")
        try:
            return self.collections[collection_name]
        except KeyError:
            raise ValueError(f"Collection {collection_name} not found") from None

    def _written(self, collection: _Collection, bulk: bool = False) -> None:
        """Keep the HNSW index built: Edge has no background optimizer.

        Rebuilding after every small write re-indexes growing segments again and again
        (100k points as 256-point upserts: over 12 minutes, against 2 for one build), so a
        write call rebuilds only once the unindexed points are at least as many as the
        indexed ones; total build work stays within about twice one build, like a doubling
        array. Bulk uploads rebuild at their end. Unindexed points are searched exactly, so a
        write is searchable when it returns either way.
        """
        if not self.auto_optimize:
            return
        info = _edge_call(collection.shard.info)
        indexed, points = info.indexed_vectors_count, info.points_count
        # indexed_vectors_count still counts deleted points: many more indexed than live
        # points means deletions piled up, and optimize lets Edge's vacuum reclaim them
        if bulk or points - indexed >= indexed or indexed > 1.25 * points:
            _edge_call(collection.shard.optimize)

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index of pending points now; ``True`` if anything was rebuilt."""
        return bool(_edge_call(self._get(collection_name).shard.optimize))

    def flush(self, collection_name: str | None = None) -> None:
        """Persist pending writes of one collection (or all) to disk."""
        names = [collection_name] if collection_name else list(self.collections)
        for name in names:
            _edge_call(self._get(name).shard.flush)

    # ------------------------------------------------------------------ collections

    def get_collections(self, **kwargs: Any) -> models.CollectionsResponse:
        self._get_check_open()
        return models.CollectionsResponse(
            collections=[models.CollectionDescription(name=n) for n in self.collections]
        )

    def _get_check_open(self) -> None:
        if self._closed:
            raise RuntimeError("EdgeQdrantClient is closed; create a new one")

    def collection_exists(self, collection_name: str, **kwargs: Any) -> bool:
        self._get_check_open()
        return collection_name in self.collections

    def create_collection(
        self,
        collection_name: str,
        vectors_config: models.VectorParams | Mapping[str, models.VectorParams] | None = None,
        sparse_vectors_config: Mapping[str, models.SparseVectorParams] | None = None,
        shard_number: int | None = None,
        sharding_method: models.ShardingMethod | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        on_disk_payload: bool | None = None,
        hnsw_config: models.HnswConfigDiff | None = None,
        optimizers_config: models.OptimizersConfigDiff | None = None,
        wal_config: models.WalConfigDiff | None = None,
        quantization_config: models.QuantizationConfig | None = None,
        strict_mode_config: models.StrictModeConfig | None = None,
        metadata: dict[str, Any] | None = None,
        payload: models.PayloadStorageParams | None = None,
        **kwargs: Any,
    ) -> bool:
        if kwargs.get("init_from") is not None:
            raise NotImplementedError("init_from is not supported by the Qdrant Edge backend")
        if not isinstance(collection_name, str) or not _COLLECTION_NAME.match(collection_name):
            raise ValueError(
                f"collection_name must be 1-255 letters, digits, '_', '-' or '.' starting with a "
                f"letter or digit, got {collection_name!r}"
            )
        if vectors_config is None and not sparse_vectors_config:
            raise ValueError("create_collection needs vectors_config or sparse_vectors_config")
        if sparse_vectors_config is not None and "" in sparse_vectors_config:
            raise ValueError("Sparse vector name cannot be empty")
        # shard_number, replication and strict mode describe a cluster: kept so get_collection
        # reports them, but an Edge collection is one shard on one node.
        config = models.CreateCollection(
            vectors=dict(vectors_config) if isinstance(vectors_config, Mapping) else vectors_config,
            sparse_vectors=dict(sparse_vectors_config) if sparse_vectors_config else None,
            shard_number=shard_number,
            sharding_method=sharding_method,
            replication_factor=replication_factor,
            write_consistency_factor=write_consistency_factor,
            on_disk_payload=on_disk_payload,
            hnsw_config=hnsw_config,
            optimizers_config=optimizers_config,
            wal_config=wal_config,
            quantization_config=quantization_config,
            strict_mode_config=strict_mode_config,
            metadata=metadata,
            payload=payload,
        )
        if config.vectors is None:
            config.vectors = {}
        edge_config = conv.collection_to_edge_config(config)
        with self._lock:
            self._get_check_open()
            if collection_name in self.collections:
                raise ValueError(f"Collection {collection_name} already exists")
            directory = self.location / "collections" / collection_name
            if directory.exists():  # left by a crash between mkdir and collection.json
                shutil.rmtree(directory)
            directory.mkdir(mode=0o700)
            shard = _edge_call(edge.EdgeShard.create, str(directory / "shard"), edge_config)
            collection = _Collection(collection_name, directory, config, shard)
            collection.save()
            self.collections[collection_name] = collection
        return True

    def recreate_collection(self, collection_name: str, *args: Any, **kwargs: Any) -> bool:
        self.delete_collection(collection_name)
        return self.create_collection(collection_name, *args, **kwargs)

    def delete_collection(self, collection_name: str, **kwargs: Any) -> bool:
        with self._lock:
            self._get_check_open()
            collection = self.collections.pop(collection_name, None)
            if collection is None:
                return False
            collection.shard.close()
            shutil.rmtree(collection.path, ignore_errors=True)
            return True

    def get_collection(self, collection_name: str, **kwargs: Any) -> models.CollectionInfo:
        collection = self._get(collection_name)
        info = _edge_call(collection.shard.info)
        config = collection.config
        hnsw = conv.DEFAULT_HNSW.model_copy(
            update=(config.hnsw_config or models.HnswConfigDiff()).model_dump(exclude_none=True)
        )
        optimizers = models.OptimizersConfig(
            deleted_threshold=0.2,
            vacuum_min_vector_number=1000,
            default_segment_number=0,
            flush_interval_sec=5,
        ).model_copy(
            update=(config.optimizers_config or models.OptimizersConfigDiff()).model_dump(
                exclude_none=True
            )
        )
        edge_schema = info.payload_schema
        payload_schema = {
            name: models.PayloadIndexInfo(
                data_type=conv.schema_type_of(schema),
                params=None if isinstance(schema, (str, models.PayloadSchemaType)) else schema,
                points=edge_schema[name].points if name in edge_schema else 0,
            )
            for name, schema in collection.payload_indexes.items()
        }
        return models.CollectionInfo(
            status=models.CollectionStatus.GREEN,
            optimizer_status=models.OptimizersStatusOneOf.OK,
            indexed_vectors_count=info.indexed_vectors_count,
            points_count=info.points_count,
            segments_count=info.segments_count,
            config=models.CollectionConfig(
                params=models.CollectionParams(
                    vectors=config.vectors,
                    shard_number=config.shard_number or 1,
                    sharding_method=config.sharding_method,
                    replication_factor=config.replication_factor or 1,
                    write_consistency_factor=config.write_consistency_factor or 1,
                    on_disk_payload=True
                    if config.on_disk_payload is None
                    else config.on_disk_payload,
                    sparse_vectors=config.sparse_vectors,
                ),
                hnsw_config=hnsw,
                optimizer_config=optimizers,
                wal_config=models.WalConfig(wal_capacity_mb=32, wal_segments_ahead=0),
                quantization_config=config.quantization_config,
                strict_mode_config=None,
                metadata=config.metadata,
            ),
            payload_schema=payload_schema,
        )

    def info(self) -> models.VersionInfo:
        from importlib.metadata import version

        return models.VersionInfo(title="qdrant-edge", version=version("qdrant-edge-py"))

    def _no_snapshots(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "Qdrant Edge cannot create, list or recover collection snapshots (it only applies "
            "server shard snapshots); back up with the store's portable export instead"
        )

    create_snapshot = list_snapshots = delete_snapshot = recover_snapshot = _no_snapshots
    create_full_snapshot = list_full_snapshots = delete_full_snapshot = _no_snapshots
    create_shard_snapshot = list_shard_snapshots = recover_shard_snapshot = _no_snapshots

    # ------------------------------------------------------------------ payload indexes

    def create_payload_index(
        self,
        collection_name: str,
        field_name: str,
        field_schema: Any = None,
        field_type: Any = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        schema = field_schema if field_schema is not None else field_type
        if schema is None:
            raise ValueError(f"create_payload_index({field_name!r}) needs field_schema")
        edge_schema = conv.field_schema_to_edge(schema)
        with self._lock:
            _edge_call(
                collection.shard.update,
                edge.UpdateOperation.create_field_index(field_name, edge_schema),
            )
            if isinstance(schema, str) and not isinstance(schema, models.PayloadSchemaType):
                schema = models.PayloadSchemaType(schema)
            collection.payload_indexes[field_name] = schema
            collection.save()
        return _completed()

    def delete_payload_index(
        self, collection_name: str, field_name: str, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        with self._lock:
            _edge_call(collection.shard.update, edge.UpdateOperation.delete_field_index(field_name))
            collection.payload_indexes.pop(field_name, None)
            collection.save()
        return _completed()

    # ------------------------------------------------------------------ writes

    def _update(self, collection: _Collection, operation: Any) -> models.UpdateResult:
        _edge_call(collection.shard.update, operation)
        self._written(collection)
        return _completed()

    def upsert(
        self,
        collection_name: str,
        points: Any,
        update_filter: models.Filter | None = None,
        update_mode: models.UpdateMode | None = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        edge_points = conv.points_to_edge(points)
        if not edge_points:
            raise ValueError("upsert needs at least one point")
        operation = edge.UpdateOperation.upsert_points(
            edge_points,
            condition=conv.filter_to_edge(update_filter),
            update_mode=conv.update_mode_to_edge(update_mode),
        )
        return self._update(collection, operation)

    def upload_points(
        self,
        collection_name: str,
        points: Iterable[models.PointStruct],
        batch_size: int = 64,
        update_filter: models.Filter | None = None,
        update_mode: models.UpdateMode | None = None,
        **kwargs: Any,
    ) -> None:
        # like local mode, uploads are applied (wait=True) before returning; the index is built
        # once at the end, not per batch
        collection = self._get(collection_name)
        condition = conv.filter_to_edge(update_filter)
        mode = conv.update_mode_to_edge(update_mode)
        batch: list[Any] = []
        size = max(int(batch_size or 64), 256)  # no network here: bigger batches are cheaper
        for point in points:
            batch.append(conv.point_to_edge(point))
            if len(batch) >= size:
                _edge_call(
                    collection.shard.update,
                    edge.UpdateOperation.upsert_points(batch, condition, mode),
                )
                batch = []
        if batch:
            _edge_call(
                collection.shard.update, edge.UpdateOperation.upsert_points(batch, condition, mode)
            )
        self._written(collection, bulk=True)

    def upload_collection(
        self,
        collection_name: str,
        vectors: Any,
        payload: Iterable[dict[Any, Any]] | None = None,
        ids: Iterable[Any] | None = None,
        batch_size: int = 64,
        update_filter: models.Filter | None = None,
        update_mode: models.UpdateMode | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(vectors, Mapping):
            names = list(vectors)
            rows: Iterable[Any] = (
                {n: vectors[n][i] for n in names} for i in range(len(vectors[names[0]]))
            )
        else:
            rows = vectors
        id_iter: Iterable[Any] = (
            ids if ids is not None else (str(uuid.uuid4()) for _ in iter(int, 1))
        )
        payload_iter: Iterable[Any] = payload if payload is not None else ({} for _ in iter(int, 1))
        points = (
            models.PointStruct(
                id=str(i) if isinstance(i, uuid.UUID) else i,
                vector=_plain_vector(v),
                payload=p or {},
            )
            # ids and payloads may be endless generators: the vectors decide the length
            for i, v, p in zip(id_iter, rows, payload_iter, strict=False)
        )
        self.upload_points(
            collection_name,
            points,
            batch_size=batch_size,
            update_filter=update_filter,
            update_mode=update_mode,
        )

    def _selector(self, selector: Any) -> tuple[list[Any] | None, Any]:
        """``(ids, None)`` or ``(None, edge_filter)`` for a points selector."""
        if isinstance(selector, models.PointIdsList):
            return [conv.point_id_to_edge(i) for i in selector.points], None
        if isinstance(selector, models.FilterSelector):
            return None, conv.filter_to_edge(selector.filter)
        if isinstance(selector, models.Filter):
            return None, conv.filter_to_edge(selector)
        if isinstance(selector, Sequence) and not isinstance(selector, str):
            return [conv.point_id_to_edge(i) for i in selector], None
        raise TypeError(
            f"points selector must be a list of ids, PointIdsList, FilterSelector or Filter, "
            f"got {selector!r}"
        )

    def delete(
        self, collection_name: str, points_selector: Any, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points_selector)
        if ids is not None:
            return self._update(collection, edge.UpdateOperation.delete_points(ids))
        return self._update(collection, edge.UpdateOperation.delete_points_by_filter(flt))

    def set_payload(
        self,
        collection_name: str,
        payload: dict[str, Any],
        points: Any,
        key: str | None = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points)
        if ids is not None:
            op = edge.UpdateOperation.set_payload(ids, dict(payload), key)
        else:
            op = edge.UpdateOperation.set_payload_by_filter(flt, dict(payload), key)
        return self._update(collection, op)

    def overwrite_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points)
        if ids is not None:
            op = edge.UpdateOperation.overwrite_payload(ids, dict(payload))
        else:
            op = edge.UpdateOperation.overwrite_payload_by_filter(flt, dict(payload))
        return self._update(collection, op)

    def delete_payload(
        self, collection_name: str, keys: Sequence[str], points: Any, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points)
        if ids is not None:
            op = edge.UpdateOperation.delete_payload(ids, list(keys))
        else:
            op = edge.UpdateOperation.delete_payload_by_filter(flt, list(keys))
        return self._update(collection, op)

    def clear_payload(
        self, collection_name: str, points_selector: Any, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points_selector)
        if ids is not None:
            return self._update(collection, edge.UpdateOperation.clear_payload(ids))
        return self._update(collection, edge.UpdateOperation.clear_payload_by_filter(flt))

    def update_vectors(
        self,
        collection_name: str,
        points: Sequence[models.PointVectors],
        update_filter: models.Filter | None = None,
        **kwargs: Any,
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        vectors = [
            edge.PointVectors(conv.point_id_to_edge(p.id), conv.vector_struct_to_edge(p.vector))
            for p in points
        ]
        op = edge.UpdateOperation.update_vectors(vectors, conv.filter_to_edge(update_filter))
        return self._update(collection, op)

    def delete_vectors(
        self, collection_name: str, vectors: Sequence[str], points: Any, **kwargs: Any
    ) -> models.UpdateResult:
        collection = self._get(collection_name)
        ids, flt = self._selector(points)
        if ids is not None:
            op = edge.UpdateOperation.delete_vectors(ids, list(vectors))
        else:
            op = edge.UpdateOperation.delete_vectors_by_filter(flt, list(vectors))
        return self._update(collection, op)

    # ------------------------------------------------------------------ reads

    def _vector_of(self, collection: _Collection, point_id: Any, using: str | None) -> Any:
        name = using or ""
        records = _edge_call(
            collection.shard.retrieve, [conv.point_id_to_edge(point_id)], False, [name]
        )
        if not records:
            raise ValueError(f"No point with id {point_id!r} in collection {collection.name}")
        vector = records[0].vector
        return vector[name] if isinstance(vector, dict) else vector

    def _resolve(self, collection: _Collection, query: Any, using: str | None) -> tuple[Any, set]:
        """Replace a point id in a nearest query by its vector; return the ids to exclude."""
        if query is not None and not isinstance(query, typing.get_args(models.Query)):
            # a bare vector or id (allowed in prefetches) is shorthand for a nearest query
            query = models.NearestQuery(nearest=_plain_vector(query))
        if isinstance(query, models.NearestQuery) and isinstance(
            query.nearest, (int, str, uuid.UUID)
        ):
            point_id = str(query.nearest) if isinstance(query.nearest, uuid.UUID) else query.nearest
            vector = self._vector_of(collection, point_id, using)
            if isinstance(vector, edge.SparseVector):
                vector = models.SparseVector(indices=vector.indices, values=vector.values)
            return query.model_copy(update={"nearest": vector}), {point_id}
        return query, set()

    def _prefetch(self, collection: _Collection, prefetch: Any) -> list[Any] | None:
        if prefetch is None:
            return None
        items = prefetch if isinstance(prefetch, list) else [prefetch]
        out = []
        for item in items:
            if item.lookup_from is not None:
                raise NotImplementedError("Prefetch.lookup_from is not supported by Qdrant Edge")
            limit = item.limit if item.limit is not None else _DEFAULT_PREFETCH_LIMIT
            query, exclude = self._resolve(collection, item.query, item.using)
            out.append(
                edge.Prefetch(
                    limit=limit,
                    query=conv.query_to_edge(query, item.using, limit),
                    prefetches=self._prefetch(collection, item.prefetch),
                    params=conv.search_params_to_edge(item.params),
                    filter=conv.filter_to_edge(_exclude_ids(item.filter, exclude)),
                    score_threshold=item.score_threshold,
                )
            )
        return out

    def _query_request(
        self,
        collection: _Collection,
        query: Any = None,
        using: str | None = None,
        prefetch: Any = None,
        query_filter: models.Filter | None = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        score_threshold: float | None = None,
        lookup_from: Any = None,
    ) -> edge.QueryRequest:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit value {limit!r} is invalid. Must be 1 or larger.")
        if offset is not None and offset < 0:
            raise ValueError(f"offset value {offset!r} is invalid. Must be 0 or larger.")
        if lookup_from is not None:
            raise NotImplementedError("lookup_from is not supported by the Qdrant Edge backend")
        if prefetch and query is None:
            raise ValueError("A query is needed to merge the prefetches.")
        query, exclude = self._resolve(collection, query, using)
        return edge.QueryRequest(
            limit=limit,
            offset=offset,
            query=conv.query_to_edge(query, using, limit),
            prefetches=self._prefetch(collection, prefetch),
            with_vector=conv.with_vectors_to_edge(with_vectors),
            with_payload=conv.with_payload_to_edge(with_payload),
            filter=conv.filter_to_edge(_exclude_ids(query_filter, exclude)),
            score_threshold=score_threshold,
            params=conv.search_params_to_edge(search_params),
        )

    def query_points(
        self,
        collection_name: str,
        query: Any = None,
        using: str | None = None,
        prefetch: Any = None,
        query_filter: models.Filter | None = None,
        search_params: models.SearchParams | None = None,
        limit: int = 10,
        offset: int | None = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        score_threshold: float | None = None,
        lookup_from: Any = None,
        **kwargs: Any,
    ) -> models.QueryResponse:
        collection = self._get(collection_name)
        request = self._query_request(
            collection, query, using, prefetch, query_filter, search_params, limit, offset,
            with_payload, with_vectors, score_threshold, lookup_from,
        )  # fmt: skip
        points = _edge_call(collection.shard.query, request)
        return models.QueryResponse(points=[conv.scored_point_from_edge(p) for p in points])

    def query_batch_points(
        self, collection_name: str, requests: Sequence[models.QueryRequest], **kwargs: Any
    ) -> list[models.QueryResponse]:
        collection = self._get(collection_name)
        edge_requests = [
            self._query_request(
                collection,
                query=r.query,
                using=r.using,
                prefetch=r.prefetch,
                query_filter=r.filter,
                search_params=r.params,
                limit=r.limit if r.limit is not None else 10,
                offset=r.offset,
                with_payload=r.with_payload if r.with_payload is not None else False,
                with_vectors=r.with_vector if r.with_vector is not None else False,
                score_threshold=r.score_threshold,
                lookup_from=r.lookup_from,
            )
            for r in requests
        ]
        if not edge_requests:
            return []
        results = _edge_call(collection.shard.query_batch, edge.QueryBatchRequest(edge_requests))
        return [
            models.QueryResponse(points=[conv.scored_point_from_edge(p) for p in points])
            for points in results
        ]

    def scroll(
        self,
        collection_name: str,
        scroll_filter: models.Filter | None = None,
        limit: int = 10,
        order_by: Any = None,
        offset: Any = None,
        with_payload: Any = True,
        with_vectors: Any = False,
        **kwargs: Any,
    ) -> tuple[list[models.Record], Any]:
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit value {limit!r} is invalid. Must be 1 or larger.")
        collection = self._get(collection_name)
        request = edge.ScrollRequest(
            offset=None if offset is None else conv.point_id_to_edge(offset),
            limit=limit,
            filter=conv.filter_to_edge(scroll_filter),
            with_payload=conv.with_payload_to_edge(with_payload),
            with_vector=conv.with_vectors_to_edge(with_vectors),
            order_by=conv.order_by_to_edge(order_by),
        )
        records, next_offset = _edge_call(collection.shard.scroll, request)
        next_id = None if next_offset is None else conv.point_id_from_edge(next_offset)
        return [conv.record_from_edge(r) for r in records], next_id

    def count(
        self,
        collection_name: str,
        count_filter: models.Filter | None = None,
        exact: bool = True,
        **kwargs: Any,
    ) -> models.CountResult:
        collection = self._get(collection_name)
        request = edge.CountRequest(filter=conv.filter_to_edge(count_filter), exact=exact)
        return models.CountResult(count=_edge_call(collection.shard.count, request))

    def facet(
        self,
        collection_name: str,
        key: str,
        facet_filter: models.Filter | None = None,
        limit: int = 10,
        exact: bool = False,
        **kwargs: Any,
    ) -> models.FacetResponse:
        collection = self._get(collection_name)
        request = edge.FacetRequest(
            key=key, limit=limit, exact=exact, filter=conv.filter_to_edge(facet_filter)
        )
        response = _edge_call(collection.shard.facet, request)
        return models.FacetResponse(
            hits=[models.FacetValueHit(value=h.value, count=h.count) for h in response.hits]
        )

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: Any = True,
        with_vectors: Any = False,
        **kwargs: Any,
    ) -> list[models.Record]:
        collection = self._get(collection_name)
        records = _edge_call(
            collection.shard.retrieve,
            [conv.point_id_to_edge(i) for i in ids],
            conv.with_payload_to_edge(with_payload),
            conv.with_vectors_to_edge(with_vectors),
        )
        return [conv.record_from_edge(r) for r in records]


def _exclude_ids(query_filter: models.Filter | None, ids: set[Any]) -> models.Filter | None:
    """Like the server, a query by point id does not return that point."""
    if not ids:
        return query_filter
    exclude = models.HasIdCondition(has_id=sorted(ids, key=str))
    if query_filter is None:
        return models.Filter(must_not=[exclude])
    must_not = query_filter.must_not
    must_not = [] if must_not is None else (must_not if isinstance(must_not, list) else [must_not])
    return query_filter.model_copy(update={"must_not": [*must_not, exclude]})


def _plain_vector(vector: Any) -> Any:
    if isinstance(vector, Mapping):
        return {name: _plain_vector(v) for name, v in vector.items()}
    return vector.tolist() if hasattr(vector, "tolist") else vector


def _completed() -> models.UpdateResult:
    return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)
