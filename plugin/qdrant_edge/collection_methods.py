"""`EdgeCollectionMethods`: the collection half of `EdgeQdrantClient` (collections, payload
indexes, snapshots, lifecycle), with ``QdrantClient``'s exact signatures.

`EdgeQdrantClient` adds the point half (writes and reads); this base class only holds the part
of its surface that works on whole collections. See `ragdrop.qdrant_edge.client`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from importlib.metadata import version

from qdrant_client.client_base import QdrantBase
from qdrant_client.conversions import common_types as types
from qdrant_client.http import models

from ragdrop.qdrant_edge.backend import QdrantEdgeLocal, check_collection_name
from ragdrop.qdrant_edge.convert_config import field_schema_of

_NO_SNAPSHOTS = (
    "Qdrant Edge cannot create, list or recover collection snapshots (it only applies server "
    "shard snapshots); back up with the store's portable export instead"
)


def reject_unknown(kwargs: Mapping[str, object]) -> None:
    """``QdrantClient`` refuses keyword arguments it does not know; so do we."""
    if kwargs:
        raise TypeError(f"Unknown arguments: {list(kwargs)}")


def completed() -> types.UpdateResult:
    """The result of a write: Edge applies it before returning."""
    return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)


class EdgeCollectionMethods(QdrantBase):
    """Collection-level ``QdrantClient`` methods over a `QdrantEdgeLocal` (``self._engine``)."""

    _engine: QdrantEdgeLocal
    _options: dict[str, object]

    @property
    def init_options(self) -> dict[str, object]:
        """How the client was created: ``edge_path`` and ``auto_optimize``."""
        return self._options

    @property
    def backend(self) -> QdrantEdgeLocal:
        """The Edge collections (for ``optimize``/``flush`` and sharing with an async client)."""
        return self._engine

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index over points written since the last build."""
        return self._engine.optimize(collection_name)

    def flush(self, collection_name: str | None = None) -> None:
        """Persist pending writes to disk (Edge also keeps a write-ahead log)."""
        self._engine.flush(collection_name)

    def close(self, grpc_grace: float | None = None, **kwargs: object) -> None:
        self._engine.close()

    def info(self) -> types.VersionInfo:
        return models.VersionInfo(title="qdrant-edge", version=version("qdrant-edge-py"))

    # ------------------------------------------------------------------ collections

    def get_collections(self, **kwargs: object) -> types.CollectionsResponse:
        reject_unknown(kwargs)
        names = self._engine.names()
        return models.CollectionsResponse(
            collections=[models.CollectionDescription(name=n) for n in names]
        )

    def collection_exists(self, collection_name: str, **kwargs: object) -> bool:
        reject_unknown(kwargs)
        if not collection_name:
            raise ValueError("Collection name must not be empty")
        return collection_name in self._engine.names()

    def get_collection(self, collection_name: str, **kwargs: object) -> types.CollectionInfo:
        reject_unknown(kwargs)
        return self._engine.info(collection_name)

    def create_collection(
        self,
        collection_name: str,
        vectors_config: types.VectorParams | Mapping[str, types.VectorParams] | None = None,
        sparse_vectors_config: Mapping[str, types.SparseVectorParams] | None = None,
        shard_number: int | None = None,
        sharding_method: types.ShardingMethod | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        on_disk_payload: bool | None = None,
        hnsw_config: types.HnswConfigDiff | None = None,
        optimizers_config: types.OptimizersConfigDiff | None = None,
        wal_config: types.WalConfigDiff | None = None,
        quantization_config: types.QuantizationConfig | None = None,
        timeout: int | None = None,
        strict_mode_config: types.StrictModeConfig | None = None,
        metadata: types.Payload | None = None,
        payload: types.PayloadStorageParams | None = None,
        id_tracker: types.IdTrackerParams | None = None,
        **kwargs: object,
    ) -> bool:
        reject_unknown(kwargs)
        check_collection_name(collection_name)
        if vectors_config is None and not sparse_vectors_config:
            raise ValueError("create_collection needs vectors_config or sparse_vectors_config")
        if sparse_vectors_config is not None and "" in sparse_vectors_config:
            raise ValueError("Sparse vector name cannot be empty")
        # shard_number, replication and strict mode describe a cluster: kept so get_collection
        # reports them, but an Edge collection is one shard on one node. model_validate also
        # refuses gRPC models, which QdrantClient would convert.
        fields: dict[str, object] = {
            "vectors": dict(vectors_config)
            if isinstance(vectors_config, Mapping)
            else (vectors_config or {}),
            "sparse_vectors": dict(sparse_vectors_config) if sparse_vectors_config else None,
            "shard_number": shard_number,
            "sharding_method": sharding_method,
            "replication_factor": replication_factor,
            "write_consistency_factor": write_consistency_factor,
            "on_disk_payload": on_disk_payload,
            "hnsw_config": hnsw_config,
            "optimizers_config": optimizers_config,
            "wal_config": wal_config,
            "quantization_config": quantization_config,
            "strict_mode_config": strict_mode_config,
            "metadata": metadata,
            "payload": payload,
        }
        self._engine.create_collection(
            collection_name, models.CreateCollection.model_validate(fields)
        )
        return True

    def recreate_collection(
        self,
        collection_name: str,
        vectors_config: types.VectorParams | Mapping[str, types.VectorParams] | None = None,
        sparse_vectors_config: Mapping[str, types.SparseVectorParams] | None = None,
        shard_number: int | None = None,
        sharding_method: types.ShardingMethod | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        on_disk_payload: bool | None = None,
        hnsw_config: types.HnswConfigDiff | None = None,
        optimizers_config: types.OptimizersConfigDiff | None = None,
        wal_config: types.WalConfigDiff | None = None,
        quantization_config: types.QuantizationConfig | None = None,
        timeout: int | None = None,
        strict_mode_config: types.StrictModeConfig | None = None,
        metadata: types.Payload | None = None,
        payload: types.PayloadStorageParams | None = None,
        id_tracker: types.IdTrackerParams | None = None,
        **kwargs: object,
    ) -> bool:
        warnings.warn(
            "`recreate_collection` method is deprecated and will be removed in the future. Use "
            "`collection_exists` to check collection existence and `create_collection` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.delete_collection(collection_name)
        return self.create_collection(
            collection_name, vectors_config, sparse_vectors_config, shard_number,
            sharding_method, replication_factor, write_consistency_factor, on_disk_payload,
            hnsw_config, optimizers_config, wal_config, quantization_config, timeout,
            strict_mode_config, metadata, payload, id_tracker, **kwargs,
        )  # fmt: skip

    def delete_collection(
        self, collection_name: str, timeout: int | None = None, **kwargs: object
    ) -> bool:
        reject_unknown(kwargs)
        return self._engine.delete_collection(collection_name)

    def create_payload_index(
        self,
        collection_name: str,
        field_name: str,
        field_schema: types.PayloadSchemaType | None = None,
        field_type: types.PayloadSchemaType | None = None,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        self._engine.collection(collection_name)
        schema = field_schema if field_schema is not None else field_type
        if schema is None:
            raise ValueError(f"create_payload_index({field_name!r}) needs field_schema")
        self._engine.create_payload_index(collection_name, field_name, field_schema_of(schema))
        return completed()

    def delete_payload_index(
        self,
        collection_name: str,
        field_name: str,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        reject_unknown(kwargs)
        self._engine.delete_payload_index(collection_name, field_name)
        return completed()

    # ------------------------------------------------------------------ snapshots

    def create_snapshot(
        self, collection_name: str, wait: bool = True, **kwargs: object
    ) -> types.SnapshotDescription | None:
        raise NotImplementedError(_NO_SNAPSHOTS)

    def list_snapshots(
        self, collection_name: str, **kwargs: object
    ) -> list[types.SnapshotDescription]:
        raise NotImplementedError(_NO_SNAPSHOTS)

    def delete_snapshot(
        self, collection_name: str, snapshot_name: str, wait: bool = True, **kwargs: object
    ) -> bool | None:
        raise NotImplementedError(_NO_SNAPSHOTS)

    def recover_snapshot(
        self,
        collection_name: str,
        location: str,
        api_key: str | None = None,
        checksum: str | None = None,
        priority: types.SnapshotPriority | None = None,
        wait: bool = True,
        **kwargs: object,
    ) -> bool | None:
        raise NotImplementedError(_NO_SNAPSHOTS)
