"""`AsyncEdgeQdrantClient`: the ``AsyncQdrantClient`` twin of an `EdgeQdrantClient`.

Edge allows one open handle per directory, so the async client wraps the sync one instead of
opening ``path`` again, and every call runs the sync method on a worker thread (Edge releases
the GIL inside its calls). The methods have ``AsyncQdrantClient``'s exact signatures: the same
as the sync client's, ``async`` except ``upload_points`` and ``upload_collection``, which
``AsyncQdrantClient`` runs synchronously too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from qdrant_client.conversions import common_types as types

from ragdrop.qdrant_edge.async_collection_methods import AsyncEdgeCollectionMethods
from ragdrop.qdrant_edge.client import EdgeQdrantClient
from ragdrop.qdrant_edge.convert_queries import QueryInput


class AsyncEdgeQdrantClient(AsyncEdgeCollectionMethods):
    """The ``AsyncQdrantClient`` twin of an ``EdgeQdrantClient``, sharing its storage.

    Closing the sync client closes both; this client's ``close`` leaves the storage open.

    Args:
        client: the ``EdgeQdrantClient`` whose collections this client serves.

    Example:
        >>> import asyncio, tempfile
        >>> sync = EdgeQdrantClient(path=tempfile.mkdtemp())
        >>> aclient = AsyncEdgeQdrantClient(sync)
        >>> asyncio.run(aclient.collection_exists("docs"))
        False
        >>> sync.close()
    """

    def __init__(self, client: EdgeQdrantClient) -> None:
        if not isinstance(client, EdgeQdrantClient):
            raise TypeError(f"client must be an EdgeQdrantClient, got {client!r}")
        super().__init__()
        self._sync = client

    async def upsert(
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
        return await asyncio.to_thread(
            self._sync.upsert, collection_name, points, wait, ordering,
            shard_key_selector, update_filter, update_mode, timeout, **kwargs,
        )  # fmt: skip

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
        return self._sync.upload_points(
            collection_name, points, batch_size, parallel, method, max_retries, wait,
            shard_key_selector, update_filter, update_mode, **kwargs,
        )  # fmt: skip

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
        return self._sync.upload_collection(
            collection_name, vectors, payload, ids, batch_size, parallel, method,
            max_retries, wait, shard_key_selector, update_filter, update_mode, **kwargs,
        )  # fmt: skip

    async def delete(
        self,
        collection_name: str,
        points_selector: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        return await asyncio.to_thread(
            self._sync.delete, collection_name, points_selector, wait, ordering,
            shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def set_payload(
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
        return await asyncio.to_thread(
            self._sync.set_payload, collection_name, payload, points, key, wait,
            ordering, shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def overwrite_payload(
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
        return await asyncio.to_thread(
            self._sync.overwrite_payload, collection_name, payload, points, wait,
            ordering, shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def delete_payload(
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
        return await asyncio.to_thread(
            self._sync.delete_payload, collection_name, keys, points, wait, ordering,
            shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def clear_payload(
        self,
        collection_name: str,
        points_selector: types.PointsSelector,
        wait: bool = True,
        ordering: types.WriteOrdering | None = None,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.UpdateResult:
        return await asyncio.to_thread(
            self._sync.clear_payload, collection_name, points_selector, wait, ordering,
            shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def update_vectors(
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
        return await asyncio.to_thread(
            self._sync.update_vectors, collection_name, points, wait, ordering,
            shard_key_selector, update_filter, timeout, **kwargs,
        )  # fmt: skip

    async def delete_vectors(
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
        return await asyncio.to_thread(
            self._sync.delete_vectors, collection_name, vectors, points, wait, ordering,
            shard_key_selector, timeout, **kwargs,
        )  # fmt: skip

    async def query_points(
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
        return await asyncio.to_thread(
            self._sync.query_points, collection_name, query, using, prefetch,
            query_filter, search_params, limit, offset, with_payload, with_vectors,
            score_threshold, lookup_from, consistency, shard_key_selector, timeout,
            **kwargs,
        )  # fmt: skip

    async def query_batch_points(
        self,
        collection_name: str,
        requests: Sequence[types.QueryRequest],
        consistency: types.ReadConsistency | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> list[types.QueryResponse]:
        return await asyncio.to_thread(
            self._sync.query_batch_points, collection_name, requests, consistency, timeout, **kwargs
        )

    async def scroll(
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
        return await asyncio.to_thread(
            self._sync.scroll, collection_name, scroll_filter, limit, order_by, offset,
            with_payload, with_vectors, consistency, shard_key_selector, timeout,
            **kwargs,
        )  # fmt: skip

    async def count(
        self,
        collection_name: str,
        count_filter: types.Filter | None = None,
        exact: bool = True,
        shard_key_selector: types.ShardKeySelector | None = None,
        timeout: int | None = None,
        **kwargs: object,
    ) -> types.CountResult:
        return await asyncio.to_thread(
            self._sync.count, collection_name, count_filter, exact, shard_key_selector,
            timeout, **kwargs,
        )  # fmt: skip

    async def facet(
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
        return await asyncio.to_thread(
            self._sync.facet, collection_name, key, facet_filter, limit, exact,
            consistency, timeout, shard_key_selector, **kwargs,
        )  # fmt: skip

    async def retrieve(
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
        return await asyncio.to_thread(
            self._sync.retrieve, collection_name, ids, with_payload, with_vectors,
            consistency, shard_key_selector, timeout, **kwargs,
        )  # fmt: skip
