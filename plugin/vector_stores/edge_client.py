"""qdrant-client's ``QdrantClient`` API on Qdrant Edge, the embedded Rust engine (HNSW, payload
indexes, quantization) instead of local mode's pure-Python brute force.

Code written against ``QdrantClient`` runs unchanged on ``EdgeQdrantClient(path=...)``: the same
methods, keyword arguments and ``qdrant_client.models`` types in and out. Supported:
``get_collections``, ``collection_exists``, ``get_collection``, ``create_collection``,
``recreate_collection``, ``delete_collection``, ``upsert``, ``upload_points``, ``upload_collection``,
``query_points``, ``query_batch_points``, ``scroll``, ``count``, ``facet``, ``retrieve``,
``delete``, ``set_payload``, ``overwrite_payload``, ``delete_payload``, ``clear_payload``,
``update_vectors``, ``delete_vectors``, ``create_payload_index``, ``delete_payload_index``,
``info``, ``close``. Anything else raises ``NotImplementedError`` (nothing is silently ignored).

Storage and engine calls live in ``edge_backend.QdrantEdgeLocal``; this module holds the client
classes users create and ``embedded_client``, which picks Edge or local mode for a directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.async_qdrant_fastembed import AsyncQdrantFastembedMixin
from qdrant_client.embed.type_inspector import Inspector
from qdrant_client.qdrant_fastembed import QdrantFastembedMixin
from ragdrop.vector_stores.edge_backend import (
    LOCAL_MODE_MARKER,
    EdgeStorageError,
    QdrantEdgeLocal,
)


class EdgeQdrantClient(QdrantClient):
    """A ``QdrantClient`` whose storage is Qdrant Edge at ``path`` (one process at a time).

    Args:
        path: directory of the collections; created 0700 if missing.
        auto_optimize: rebuild the HNSW index as points arrive (amortised: when the unindexed
            points outnumber the indexed ones) and after bulk uploads; ``False`` leaves it to
            ``optimize()``. Unindexed points are searched exactly, so writes are searchable
            on return either way.

    Example:
        >>> from qdrant_client import models
        >>> client = EdgeQdrantClient(path="/tmp/edge-demo")
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

    def __init__(self, path: str | Path, auto_optimize: bool = True, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"EdgeQdrantClient takes path and auto_optimize only, got {sorted(kwargs)}; "
                "use QdrantClient for url=/location= connections"
            )
        # not "path": callers read that key as local mode (brute force, payload indexes and
        # search params ignored), which Edge is not
        self._init_options = {"edge_path": str(path), "auto_optimize": auto_optimize}
        self._client: QdrantEdgeLocal = QdrantEdgeLocal(path, auto_optimize=auto_optimize)
        self.cloud_inference = False
        self.local_inference_batch_size = None
        self._inference_inspector = Inspector()
        QdrantFastembedMixin.__init__(
            self, parser=self._inference_inspector.parser, is_local_mode=True
        )

    @property
    def backend(self) -> QdrantEdgeLocal:
        """The Edge backend (for ``optimize``/``flush`` and sharing with an async client)."""
        return self._client

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index over points written since the last build."""
        return self._client.optimize(collection_name)

    def flush(self, collection_name: str | None = None) -> None:
        """Persist pending writes to disk (Edge also keeps a write-ahead log)."""
        self._client.flush(collection_name)


# Methods the async backend runs on a worker thread; Edge releases the GIL inside them.
_ASYNC_METHODS = (
    "get_collections collection_exists create_collection recreate_collection delete_collection "
    "get_collection info create_payload_index delete_payload_index upsert delete set_payload "
    "overwrite_payload delete_payload clear_payload update_vectors delete_vectors query_points "
    "query_batch_points scroll count facet retrieve optimize flush"
).split()


def _offloaded(name: str) -> Any:
    async def method(self: _AsyncEdgeBackend, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.sync, name), *args, **kwargs)

    method.__name__ = name
    return method


class _AsyncEdgeBackend(AsyncQdrantBase):
    """``AsyncQdrantBase`` over a ``QdrantEdgeLocal``: each call runs off the event loop."""

    def __init__(self, sync: QdrantEdgeLocal) -> None:
        super().__init__()
        self.sync = sync

    # AsyncQdrantClient calls these two without awaiting, as for AsyncQdrantLocal.
    def upload_points(self, *args: Any, **kwargs: Any) -> None:
        self.sync.upload_points(*args, **kwargs)

    def upload_collection(self, *args: Any, **kwargs: Any) -> None:
        self.sync.upload_collection(*args, **kwargs)

    async def close(self, **kwargs: Any) -> None:
        # the sync client owns the storage; it closes it
        return None


for _name in _ASYNC_METHODS:
    setattr(_AsyncEdgeBackend, _name, _offloaded(_name))


class AsyncEdgeQdrantClient(AsyncQdrantClient):
    """The ``AsyncQdrantClient`` twin of an ``EdgeQdrantClient``, sharing its storage.

    Edge allows one open handle per directory, so the async client wraps the sync one instead
    of opening ``path`` again; closing the sync client closes both.

    Args:
        client: the ``EdgeQdrantClient`` whose collections this client serves.

    Example:
        >>> sync = EdgeQdrantClient(path="/tmp/edge-demo-async")
        >>> aclient = AsyncEdgeQdrantClient(sync)
        >>> import asyncio
        >>> asyncio.run(aclient.collection_exists("docs"))
        False
        >>> sync.close()
    """

    def __init__(self, client: EdgeQdrantClient) -> None:
        if not isinstance(client, EdgeQdrantClient):
            raise TypeError(f"client must be an EdgeQdrantClient, got {client!r}")
        self._init_options = dict(client._init_options)
        self._client = _AsyncEdgeBackend(client.backend)  # type: ignore[assignment]
        self.cloud_inference = False
        self.local_inference_batch_size = None
        self._inference_inspector = Inspector()
        AsyncQdrantFastembedMixin.__init__(
            self, parser=self._inference_inspector.parser, is_local_mode=True
        )

    async def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index over points written since the last build."""
        return bool(await self._client.optimize(collection_name))  # type: ignore[attr-defined]


EmbeddedEngine = Literal["auto", "edge", "local"]
EMBEDDED_ENGINES: tuple[str, ...] = ("auto", "edge", "local")


def embedded_client(path: str | Path, engine: EmbeddedEngine = "auto") -> QdrantClient:
    """An embedded Qdrant client for an on-disk ``path``.

    Args:
        path: the storage directory.
        engine: ``"edge"`` (Qdrant Edge), ``"local"`` (qdrant-client local mode) or ``"auto"``:
            Edge, except for a directory that local mode already wrote (it keeps working;
            move it to Edge with the store's ``backup``/``restore``).

    Example:
        >>> client = embedded_client("/tmp/ragdrop-embedded-demo")
        >>> type(client).__name__
        'EdgeQdrantClient'
        >>> client.close()
    """
    if engine not in EMBEDDED_ENGINES:
        raise ValueError(f"engine={engine!r} is not one of {list(EMBEDDED_ENGINES)}")
    directory = Path(path).expanduser()
    if engine == "local" or (engine == "auto" and (directory / LOCAL_MODE_MARKER).exists()):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return QdrantClient(path=str(directory))
    return EdgeQdrantClient(path=directory)


__all__ = [
    "EMBEDDED_ENGINES",
    "AsyncEdgeQdrantClient",
    "EdgeQdrantClient",
    "EdgeStorageError",
    "QdrantEdgeLocal",
    "embedded_client",
]
