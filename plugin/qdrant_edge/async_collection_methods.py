"""`AsyncEdgeCollectionMethods`: the collection half of `AsyncEdgeQdrantClient` (collections,
payload indexes, snapshots, lifecycle), with ``AsyncQdrantClient``'s exact signatures.

Each call runs the wrapped `EdgeQdrantClient`'s method on a worker thread. See
`ragdrop.qdrant_edge.async_client`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.conversions import common_types as types

from ragdrop.qdrant_edge.backend import QdrantEdgeLocal
from ragdrop.qdrant_edge.client import EdgeQdrantClient


class AsyncEdgeCollectionMethods(AsyncQdrantBase):
    """Collection-level ``AsyncQdrantClient`` methods over an `EdgeQdrantClient` (``_sync``)."""

    _sync: EdgeQdrantClient

    @property
    def init_options(self) -> dict[str, object]:
        """The sync client's: ``edge_path`` and ``auto_optimize``."""
        return dict(self._sync.init_options)

    @property
    def backend(self) -> QdrantEdgeLocal:
        """The Edge collections, shared with the sync client."""
        return self._sync.backend

    async def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index over points written since the last build."""
        return await asyncio.to_thread(self._sync.optimize, collection_name)

    async def flush(self, collection_name: str | None = None) -> None:
        """Persist pending writes to disk (Edge also keeps a write-ahead log)."""
        await asyncio.to_thread(self._sync.flush, collection_name)

    async def close(self, grpc_grace: float | None = None, **kwargs: object) -> None:
        # the sync client owns the storage; it closes it
        return None

    async def info(self) -> types.VersionInfo:
        return self._sync.info()

    async def create_snapshot(
        self, collection_name: str, wait: bool = True, **kwargs: object
    ) -> types.SnapshotDescription | None:
        return self._sync.create_snapshot(collection_name, wait, **kwargs)

    async def list_snapshots(
        self, collection_name: str, **kwargs: object
    ) -> list[types.SnapshotDescription]:
        return self._sync.list_snapshots(collection_name, **kwargs)

    async def delete_snapshot(
        self, collection_name: str, snapshot_name: str, wait: bool = True, **kwargs: object
    ) -> bool | None:
        return self._sync.delete_snapshot(collection_name, snapshot_name, wait, **kwargs)

    async def recover_snapshot(
        self,
        collection_name: str,
        location: str,
        api_key: str | None = None,
        checksum: str | None = None,
        priority: types.SnapshotPriority | None = None,
        wait: bool = True,
        **kwargs: object,
    ) -> bool | None:
        return self._sync.recover_snapshot(
            collection_name, location, api_key, checksum, priority, wait, **kwargs
        )

    async def get_collections(self, **kwargs: object) -> types.CollectionsResponse:
        return await asyncio.to_thread(self._sync.get_collections, **kwargs)

    async def collection_exists(self, collection_name: str, **kwargs: object) -> bool:
        return await asyncio.to_thread(self._sync.collection_exists, collection_name, **kwargs)

    async def get_collection(self, collection_name: str, **kwargs: object) -> types.CollectionInfo:
        return await asyncio.to_thread(self._sync.get_collection, collection_name, **kwargs)

    async def create_collection(
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
        return await asyncio.to_thread(
            self._sync.create_collection, collection_name, vectors_config,
            sparse_vectors_config, shard_number, sharding_method, replication_factor,
            write_consistency_factor, on_disk_payload, hnsw_config, optimizers_config,
            wal_config, quantization_config, timeout, strict_mode_config, metadata,
            payload, id_tracker, **kwargs,
        )  # fmt: skip

    async def recreate_collection(
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
        return await asyncio.to_thread(
            self._sync.recreate_collection, collection_name, vectors_config,
            sparse_vectors_config, shard_number, sharding_method, replication_factor,
            write_consistency_factor, on_disk_payload, hnsw_config, optimizers_config,
            wal_config, quantization_config, timeout, strict_mode_config, metadata,
            payload, id_tracker, **kwargs,
        )  # fmt: skip

    async def delete_collection(
        self, collection_name: str, timeout: int | None = None, **kwargs: object
    ) -> bool:
        return await asyncio.to_thread(
            self._sync.delete_collection, collection_name, timeout, **kwargs
        )

    async def create_payload_index(
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
        return await asyncio.to_thread(
            self._sync.create_payload_index, collection_name, field_name, field_schema,
            field_type, wait, ordering, timeout, **kwargs,
        )  # fmt: skip

    async def delete_payload_index(
        self,
        collection_name: str,
        field_name: str,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        return await asyncio.to_thread(
            self._sync.delete_payload_index, collection_name, field_name, wait,
            ordering, timeout, **kwargs,
        )  # fmt: skip
