"""`CachedQdrantVectorStore`: Qdrant's production features under LlamaIndex, with a query
cache that is never stale and never executable.

Drop-in for ``llama_index.vector_stores.qdrant.QdrantVectorStore``: the same payload layout
(``node_to_metadata_dict``), the same vector names (unnamed dense vector, or ``text-dense`` +
``text-sparse-new`` when hybrid) and node ids used as point ids when they are UUIDs, so a
collection written by either store is read by the other.

Every operation is written once as a generator that yields client calls (`Call`); a sync
driver sends them through ``client`` and an async driver through ``aclient`` (or, without
one, through ``client`` in a worker thread). The client methods used, all with keyword
arguments, are exactly::

    collection_exists, get_collection, create_collection, create_payload_index,
    delete_collection, upsert, delete, query_points, scroll, count,
    create_snapshot, list_snapshots, recover_snapshot

(``create_snapshot``/``list_snapshots``/``recover_snapshot`` only from backup/restore; a
client that lacks them or raises ``NotImplementedError`` gets the portable export only.)
The optional attribute ``init_options`` (a dict with ``location``/``path``/``url``...) tells
local mode from a server; a client without it is treated as local (calls serialised).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from qdrant_client.http import models as qm
from ragdrop.cache.query_cache import QueryResultCache
from ragdrop.cache.safe_cache import SafeCache
from ragdrop.observability.stages import stage
from ragdrop.vector_stores.calls import (
    Call,
    Op,
    Parallel,
    WriteEvent,
    WriteListener,
    client_scope,
)
from ragdrop.vector_stores.filters import DOC_ID_KEY, query_filter
from ragdrop.vector_stores.operations import backup_op, health_op, restore_op
from ragdrop.vector_stores.points import (
    SparseEncoder,
    build_points,
    hits_to_json,
    node_from_payload,
    node_id_from_payload,
    point_id_for,
    result_from_json,
    validate_vectors,
)
from ragdrop.vector_stores.requests import (
    SUPPORTED_MODES,
    check_query,
    query_cache_fields,
    query_points_request,
    search_params,
)
from ragdrop.vector_stores.settings import CollectionLayout, CollectionSettings, read_layout
from ragdrop.vector_stores.sparse import hashed_term_frequencies


class CachedQdrantVectorStore(BasePydanticVectorStore):
    """Qdrant vector store with validated collection settings, exact filters, safe writes,
    hybrid RRF search, backups and an optional never-stale query cache.

    Args:
        collection_name: the Qdrant collection.
        client: a ``QdrantClient`` (``:memory:``, ``path=`` or ``url=``) or a compatible adapter.
        aclient: an ``AsyncQdrantClient``; without one, async calls run ``client`` in a thread.
        settings: `CollectionSettings` used when the collection is created and per query.
        enable_hybrid: dense ``text-dense`` + sparse ``text-sparse-new`` (IDF) vectors.
        sparse_doc_fn, sparse_query_fn: ``list[str] -> (indices, values)``; default hashed
            term frequencies (Qdrant applies IDF).
        cache_dir: directory of the query-result cache (None: no cache).
        cache_ttl: seconds a cached result may be served.

    Example:
        >>> store = CachedQdrantVectorStore("docs", client=QdrantClient(":memory:"),
        ...                                 cache_dir=".ragdrop/cache")  # doctest: +SKIP
        >>> index = VectorStoreIndex.from_documents(
        ...     docs, storage_context=StorageContext.from_defaults(vector_store=store))  # doctest: +SKIP
    """

    stores_text: bool = True
    flat_metadata: bool = False
    is_embedding_query: bool = True

    collection_name: str = Field(description="Qdrant collection name.")
    settings: CollectionSettings = Field(
        default_factory=CollectionSettings, description="Collection and search settings."
    )
    enable_hybrid: bool = Field(default=False, description="Store and search sparse vectors.")
    batch_size: int = Field(default=256, gt=0, le=10_000, description="Points per upsert.")
    parallel: int = Field(default=1, ge=1, le=64, description="Concurrent upserts (servers).")
    rrf_k: int = Field(
        default=60,
        ge=1,
        description="RRF constant: score = sum of 1 / (rrf_k + rank), rank from 0 (Qdrant's).",
    )
    cache_dir: Path | None = Field(default=None, description="Query cache directory.")
    cache_ttl: float = Field(default=300.0, gt=0, description="Query cache TTL in seconds.")
    cache_scope: str | None = Field(
        default=None, description="Names the Qdrant data for cache sharing; None: derived."
    )
    text_key: str = Field(default="text", description="Payload key of legacy text.")

    _client: Any = PrivateAttr(default=None)
    _aclient: Any = PrivateAttr(default=None)
    _sparse_doc_fn: SparseEncoder | None = PrivateAttr(default=None)
    _sparse_query_fn: SparseEncoder | None = PrivateAttr(default=None)
    _layout: CollectionLayout | None = PrivateAttr(default=None)
    _query_cache: QueryResultCache | None = PrivateAttr(default=None)
    _listeners: list[WriteListener] = PrivateAttr(default_factory=list)
    _scope: str = PrivateAttr(default="")
    _local: bool = PrivateAttr(default=True)
    _serial: bool = PrivateAttr(default=True)
    _client_lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _cache_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self,
        collection_name: str,
        client: Any = None,
        aclient: Any = None,
        *,
        sparse_doc_fn: SparseEncoder | None = None,
        sparse_query_fn: SparseEncoder | None = None,
        **data: Any,
    ) -> None:
        if client is None and aclient is None:
            raise ValueError("pass client=QdrantClient(...) and/or aclient=AsyncQdrantClient(...)")
        if not isinstance(collection_name, str) or not collection_name:
            raise ValueError(f"collection_name={collection_name!r} must be a non-empty str")
        super().__init__(collection_name=collection_name, **data)
        self._client = client
        self._aclient = aclient
        scope, kind = client_scope(client if client is not None else aclient)
        self._scope = self.cache_scope or scope
        self._local = kind in ("memory", "path")
        self._serial = kind != "remote"
        if self.enable_hybrid:
            self._sparse_doc_fn = sparse_doc_fn or hashed_term_frequencies
            self._sparse_query_fn = sparse_query_fn or hashed_term_frequencies
        elif sparse_doc_fn is not None or sparse_query_fn is not None:
            raise ValueError("sparse_doc_fn/sparse_query_fn need enable_hybrid=True")

    @classmethod
    def class_name(cls) -> str:
        return "CachedQdrantVectorStore"

    @property
    def client(self) -> Any:
        return self._client

    @property
    def aclient(self) -> Any:
        return self._aclient

    @property
    def query_cache(self) -> QueryResultCache | None:
        """The query-result cache (opened on first use), or None without ``cache_dir``."""
        if self.cache_dir is None:
            return None
        with self._cache_lock:
            if self._query_cache is None:
                safe = SafeCache(
                    self.cache_dir, namespace="queries", eviction_policy="least-recently-stored"
                )
                self._query_cache = QueryResultCache(safe, ttl=self.cache_ttl)
            return self._query_cache

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener(WriteEvent)`` after every successful write through this store."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_write_listener(self, listener: WriteListener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- drivers: the only place where sync and async differ --------------------------------
    def _send(self, call: Call) -> Any:
        if self._client is None:
            raise ValueError(
                f"{call.method}: this store has only an async client; use the a-methods"
            )
        method = getattr(self._client, call.method)
        if self._serial:
            with self._client_lock:  # local mode (and unknown adapters) are not thread-safe
                return method(**call.kwargs)
        return method(**call.kwargs)

    def _step_sync(self, step: Call | Parallel) -> Any:
        if isinstance(step, Call):
            return self._send(step)
        if self.parallel > 1 and not self._serial and len(step.calls) > 1:
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                return list(pool.map(self._send, step.calls))
        return [self._send(call) for call in step.calls]

    async def _step_async(self, step: Call | Parallel) -> Any:
        if self._aclient is None:
            return await asyncio.to_thread(self._step_sync, step)
        if isinstance(step, Call):
            return await getattr(self._aclient, step.method)(**step.kwargs)
        limit = asyncio.Semaphore(self.parallel)

        async def one(call: Call) -> Any:
            async with limit:
                return await getattr(self._aclient, call.method)(**call.kwargs)

        return await asyncio.gather(*(one(c) for c in step.calls))

    def _run(self, op: Op) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = self._step_sync(step)
            except Exception as exc:
                error = exc

    async def _arun(self, op: Op) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = await self._step_async(step)
            except Exception as exc:
                error = exc

    # -- collection layout -------------------------------------------------------------------
    def _check_layout(self, layout: CollectionLayout) -> None:
        explicit = "distance" in self.settings.model_fields_set
        if explicit and layout.distance != self.settings.distance:
            raise ValueError(
                f"collection {self.collection_name!r} uses distance {layout.distance}, "
                f"settings ask for {self.settings.distance}; use another collection or "
                f"settings.distance={layout.distance!r}"
            )
        if self.enable_hybrid and layout.sparse_name is None:
            raise ValueError(
                f"collection {self.collection_name!r} has no sparse vector, so "
                "enable_hybrid=True cannot write or search it; use a new collection or "
                "enable_hybrid=False"
            )

    def _ensure_layout(self, create_size: int | None = None) -> Op:
        """The collection's layout; creates the collection if ``create_size`` is given."""
        if self._layout is not None:
            return self._layout
        exists = yield Call("collection_exists", {"collection_name": self.collection_name})
        if not exists:
            if create_size is None:
                return None
            kwargs = self.settings.create_kwargs(
                self.collection_name, create_size, hybrid=self.enable_hybrid
            )
            try:
                yield Call("create_collection", kwargs)
            except Exception:
                # Another writer may have created it first; then use theirs.
                if not (yield Call("collection_exists", {"collection_name": self.collection_name})):
                    raise
            else:
                if not self._local:
                    for index in self.settings.payload_index_kwargs(self.collection_name):
                        yield Call("create_payload_index", index)
        info = yield Call("get_collection", {"collection_name": self.collection_name})
        layout = read_layout(info, self.collection_name)
        self._check_layout(layout)
        self._layout = layout
        return layout

    # -- cache epochs ------------------------------------------------------------------------
    def _bump(self) -> None:
        cache = self.query_cache
        if cache is not None:
            with stage("cache"):
                cache.bump(self._scope, self.collection_name)

    def _notify(self, event: WriteEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- writes ------------------------------------------------------------------------------
    def _with_layout(
        self, build: Callable[[CollectionLayout], Call | Parallel], create_size: int | None = None
    ) -> Op:
        """Send ``build(layout)``; if it fails on a remembered layout (the collection may have
        been dropped or recreated by someone else), re-read the layout and try once more.
        Returns (layout, response), or (None, None) when the collection does not exist."""
        remembered = self._layout is not None
        layout = yield from self._ensure_layout(create_size)
        if layout is None:
            return None, None
        try:
            return layout, (yield build(layout))
        except Exception:
            if not remembered:
                raise
        self._layout = None
        layout = yield from self._ensure_layout(create_size)
        if layout is None:
            return None, None
        return layout, (yield build(layout))

    def _add_op(self, nodes: Sequence[BaseNode]) -> Op:
        nodes = list(nodes)
        if not nodes:
            return []
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            # Parallel batches would race on which copy wins, and listeners (BM25) need
            # unique ids: refuse before anything is written.
            dups = sorted(i for i, c in Counter(ids).items() if c > 1)
            raise ValueError(f"nodes: duplicate node ids {dups[:5]!r}; each node must be unique")
        first = nodes[0].embedding
        size = len(first) if first is not None else 0
        if self._layout is None:
            # Checked before the collection is created, so a bad call writes nothing.
            validate_vectors(
                [n.embedding for n in nodes], size, distance=self.settings.distance, ids=ids
            )

        def upserts(layout: CollectionLayout) -> Parallel:
            points = build_points(
                nodes,
                size=layout.size,
                distance=layout.distance,
                dense_name=layout.dense_name,
                sparse_name=layout.sparse_name if self.enable_hybrid else None,
                sparse_doc_fn=self._sparse_doc_fn,
                flat_metadata=self.flat_metadata,
            )
            return Parallel(
                [
                    Call(
                        "upsert",
                        {
                            "collection_name": self.collection_name,
                            "points": points[i : i + self.batch_size],
                            "wait": True,
                        },
                    )
                    for i in range(0, len(points), self.batch_size)
                ]
            )

        with stage("upsert"):
            try:
                yield from self._with_layout(upserts, size)
            finally:
                self._bump()
        self._notify(WriteEvent("add", nodes=nodes, node_ids=ids))
        return ids

    def _ids_matching(self, flt: qm.Filter) -> Op:
        ids: list[str] = []
        offset = None
        while True:
            records, offset = yield Call(
                "scroll",
                {
                    "collection_name": self.collection_name,
                    "scroll_filter": flt,
                    "limit": 1024,
                    "offset": offset,
                    "with_payload": ["_node_content"],
                    "with_vectors": False,
                },
            )
            ids.extend(node_id_from_payload(r.id, r.payload) for r in records)
            if offset is None:
                return ids

    def _delete_op(self, selector: Any, flt: qm.Filter | None, event: WriteEvent) -> Op:
        layout = yield from self._ensure_layout()
        if layout is None:
            return None
        if flt is not None and self._listeners:
            event = WriteEvent(
                event.kind,
                node_ids=(yield from self._ids_matching(flt)),
                ref_doc_id=event.ref_doc_id,
            )
        call = Call(
            "delete",
            {"collection_name": self.collection_name, "points_selector": selector, "wait": True},
        )
        try:
            layout, _ = yield from self._with_layout(lambda _layout: call)
        finally:
            self._bump()
        if layout is not None:
            self._notify(event)
        return None

    def _delete_ref_doc_op(self, ref_doc_id: str) -> Op:
        flt = qm.Filter(
            must=[qm.FieldCondition(key=DOC_ID_KEY, match=qm.MatchValue(value=ref_doc_id))]
        )
        event = WriteEvent("delete", ref_doc_id=ref_doc_id)
        return (yield from self._delete_op(qm.FilterSelector(filter=flt), flt, event))

    def _delete_nodes_op(self, node_ids: list[str] | None, filters: MetadataFilters | None) -> Op:
        if node_ids is None and filters is None:
            raise ValueError("delete_nodes needs node_ids and/or filters")
        if filters is None:
            point_ids: list[Any] = [point_id_for(n) for n in node_ids or []]
            selector = qm.PointIdsList(points=point_ids)
            event = WriteEvent("delete_nodes", node_ids=list(node_ids or []))
            return (yield from self._delete_op(selector, None, event))
        flt = query_filter(filters, None, [point_id_for(n) for n in node_ids] if node_ids else None)
        flt = flt or qm.Filter()
        event = WriteEvent("delete_nodes", node_ids=list(node_ids or []))
        return (yield from self._delete_op(qm.FilterSelector(filter=flt), flt, event))

    def _clear_op(self) -> Op:
        exists = yield Call("collection_exists", {"collection_name": self.collection_name})
        try:
            if exists:
                yield Call("delete_collection", {"collection_name": self.collection_name})
        finally:
            self._layout = None
            self._bump()
        self._notify(WriteEvent("clear"))

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert ``nodes`` (with embeddings); returns their node ids once searchable."""
        return list(self._run(self._add_op(nodes)))

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return list(await self._arun(self._add_op(nodes)))

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of document ``ref_doc_id``."""
        self._run(self._delete_ref_doc_op(ref_doc_id))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await self._arun(self._delete_ref_doc_op(ref_doc_id))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or metadata filters."""
        self._run(self._delete_nodes_op(node_ids, filters))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await self._arun(self._delete_nodes_op(node_ids, filters))

    def clear(self) -> None:
        """Delete the whole collection."""
        self._run(self._clear_op())

    async def aclear(self) -> None:
        await self._arun(self._clear_op())

    # -- queries -----------------------------------------------------------------------------
    def _sparse_query(self, query: VectorStoreQuery) -> qm.SparseVector | None:
        if query.mode == VectorStoreQueryMode.DEFAULT or self._sparse_query_fn is None:
            return None
        indices, values = self._sparse_query_fn([query.query_str or ""])
        return qm.SparseVector(indices=list(indices[0]), values=list(values[0]))

    def _query_op(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> Op:
        check_query(query)
        flt = kwargs.get("qdrant_filters")
        if flt is None:
            node_point_ids = [point_id_for(n) for n in query.node_ids] if query.node_ids else None
            flt = query_filter(query.filters, query.doc_ids, node_point_ids)
        params = search_params(kwargs, self.settings)
        if self._local:
            params = None  # local mode searches exactly and warns on every query with params
        cache = self.query_cache
        key = epoch = None
        if cache is not None:
            with stage("cache"):
                epoch = cache.epoch(self._scope, self.collection_name)
                fields = query_cache_fields(
                    scope=self._scope,
                    collection=self.collection_name,
                    query=query,
                    flt=flt,
                    params=params,
                    rrf_k=self.rrf_k,
                )
                key = cache.key(epoch, **fields)
                hit = cache.get(key)
            if hit is not None:
                return result_from_json(hit)
        with stage("vector"):
            sparse = self._sparse_query(query)
            layout, response = yield from self._with_layout(
                lambda layout: Call(
                    "query_points",
                    query_points_request(
                        collection=self.collection_name,
                        query=query,
                        layout=layout,
                        flt=flt,
                        params=params,
                        sparse=sparse,
                        rrf_k=self.rrf_k,
                    ),
                )
            )
            if layout is None:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            data = hits_to_json(response.points)
        if cache is not None and key is not None and epoch is not None:
            with stage("cache"):
                cache.put(
                    key, data, scope=self._scope, collection=self.collection_name, epoch=epoch
                )
        return result_from_json(data)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Top-k nodes for ``query`` (dense, sparse or hybrid RRF), cached when enabled.

        Keyword arguments: ``hnsw_ef``, ``exact``, ``search_params`` (overrides both) and
        ``qdrant_filters`` (a Qdrant ``Filter`` used instead of ``query.filters``).
        """
        return self._run(self._query_op(query, kwargs))  # type: ignore[no-any-return]

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await self._arun(self._query_op(query, kwargs))  # type: ignore[no-any-return]

    # -- reading stored nodes --------------------------------------------------------------
    def _page_op(self, flt: Any, offset: Any, limit: int, with_vectors: bool) -> Op:
        layout = yield from self._ensure_layout()
        if layout is None:
            return [], None
        records, next_offset = yield Call(
            "scroll",
            {
                "collection_name": self.collection_name,
                "scroll_filter": flt,
                "limit": limit,
                "offset": offset,
                "with_payload": True,
                "with_vectors": [layout.dense_name]
                if with_vectors and layout.dense_name
                else with_vectors,
            },
        )
        nodes = []
        for record in records:
            node = node_from_payload(record.id, record.payload or {}, self.text_key)
            vector = record.vector
            if isinstance(vector, dict):
                vector = vector.get(layout.dense_name)
            if with_vectors and vector is not None and node.embedding is None:
                node.embedding = list(vector)
            nodes.append(node)
        return nodes, next_offset

    def iter_nodes(
        self, filters: MetadataFilters | None = None, batch_size: int = 256
    ) -> Iterator[BaseNode]:
        """Every stored node (text and metadata, no vectors), page by page (Qdrant scroll).

        Use it to build a BM25 index from a collection's payloads.
        """
        flt = query_filter(filters)
        offset = None
        while True:
            nodes, offset = self._run(self._page_op(flt, offset, batch_size, False))
            yield from nodes
            if offset is None:
                return

    async def aiter_nodes(
        self, filters: MetadataFilters | None = None, batch_size: int = 256
    ) -> AsyncIterator[BaseNode]:
        flt = query_filter(filters)
        offset = None
        while True:
            nodes, offset = await self._arun(self._page_op(flt, offset, batch_size, False))
            for node in nodes:
                yield node
            if offset is None:
                return

    def _get_nodes_op(
        self, node_ids: list[str] | None, filters: MetadataFilters | None, limit: int | None
    ) -> Op:
        point_ids = [point_id_for(n) for n in node_ids] if node_ids else None
        flt = query_filter(filters, None, point_ids)
        if node_ids is not None and not node_ids:
            return []
        wanted = limit if limit is not None else (len(node_ids) if node_ids else None)
        out: list[BaseNode] = []
        offset = None
        while wanted is None or len(out) < wanted:
            page = 256 if wanted is None else min(256, wanted - len(out))
            nodes, offset = yield from self._page_op(flt, offset, page, True)
            out.extend(nodes)
            if offset is None:
                break
        return out

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> list[BaseNode]:
        """Stored nodes (with embeddings) by id and/or filters."""
        return list(self._run(self._get_nodes_op(node_ids, filters, limit)))

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> list[BaseNode]:
        return list(await self._arun(self._get_nodes_op(node_ids, filters, limit)))

    # -- operations (plugin/vector_stores/operations.py) ---------------------------------
    def health(self) -> dict[str, Any]:
        """Reachability, collection status, point count, layout and config drift."""
        return dict(self._run(health_op(self)))

    async def ahealth(self) -> dict[str, Any]:
        return dict(await self._arun(health_op(self)))

    def backup(self, path: str | Path, *, snapshot: bool = True) -> dict[str, Any]:
        """Write a portable export (and a server snapshot where supported) to ``path``.

        The export (``manifest.json`` + ``points.jsonl``) restores into local mode or a
        server; local mode has no snapshots, so there only the export is written.
        """
        return dict(self._run(backup_op(self, Path(path), snapshot)))

    async def abackup(self, path: str | Path, *, snapshot: bool = True) -> dict[str, Any]:
        return dict(await self._arun(backup_op(self, Path(path), snapshot)))

    def restore(
        self, path: str | Path, *, overwrite: bool = True, use_snapshot: bool = False
    ) -> dict[str, Any]:
        """Recreate the collection from a `backup` directory (portable export by default).

        Like Qdrant's snapshot recovery, an existing collection is replaced;
        ``overwrite=False`` refuses instead.
        """
        return dict(self._run(restore_op(self, Path(path), overwrite, use_snapshot)))

    async def arestore(
        self, path: str | Path, *, overwrite: bool = True, use_snapshot: bool = False
    ) -> dict[str, Any]:
        return dict(await self._arun(restore_op(self, Path(path), overwrite, use_snapshot)))

    def close(self) -> None:
        """Close the query cache (the Qdrant clients belong to the caller)."""
        if self._query_cache is not None:
            self._query_cache.cache.close()


__all__ = [
    "SUPPORTED_MODES",
    "CachedQdrantVectorStore",
    "Call",
    "Parallel",
    "WriteEvent",
    "client_scope",
]
