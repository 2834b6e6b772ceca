"""`QdrantEdgeLocal`: the collections of one Qdrant Edge storage directory, and their writes.

Edge builds its HNSW index only when asked (``EdgeShard.optimize``); with ``auto_optimize``
(default) a `BackgroundOptimizer` builds it once a write burst goes quiet (or mid-burst past
``max_unindexed`` points), and bulk uploads build it at their end. `EdgeQdrantClient` puts
qdrant-client's API in front of this class.

Example:
    >>> import tempfile
    >>> from qdrant_client import models
    >>> engine = QdrantEdgeLocal(tempfile.mkdtemp())
    >>> engine.create_collection("docs", models.CreateCollection(
    ...     vectors=models.VectorParams(size=2, distance=models.Distance.DOT)))
    >>> docs = engine.collection("docs")
    >>> engine.update(docs, edge.UpdateOperation.upsert_points([edge.Point(1, [1.0, 0.0])]))
    >>> engine.info("docs").points_count
    1
    >>> engine.close()
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path

import qdrant_edge as edge
from qdrant_client.http import models

from ragdrop.qdrant_edge.convert_config import (
    FieldSchema,
    collection_info,
    field_schema_to_edge,
)
from ragdrop.qdrant_edge.errors import edge_call
from ragdrop.qdrant_edge.optimizer import (
    DEFAULT_GROWTH,
    DEFAULT_IDLE_S,
    DEFAULT_MAX_UNINDEXED,
    BackgroundOptimizer,
)
from ragdrop.qdrant_edge.storage import EdgeCollection, open_storage

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")


def check_collection_name(name: str) -> None:
    """Refuse a name that is not 1-255 letters, digits, ``_``, ``-`` or ``.`` (no paths)."""
    if not isinstance(name, str) or not _COLLECTION_NAME.match(name):
        raise ValueError(
            f"collection_name must be 1-255 letters, digits, '_', '-' or '.' starting with a "
            f"letter or digit, got {name!r}"
        )


_MIN_UPLOAD_BATCH = 256  # no network here: bigger batches are cheaper


class QdrantEdgeLocal:
    """The collections of one Edge storage directory (one process at a time).

    Args:
        path: directory holding the collections (created 0700).
        auto_optimize: keep the HNSW index built in the background (see `written`).
        idle_s: seconds without a write before the background build of a collection.
        max_unindexed, growth: during a long burst, build once the unindexed points reach
            ``max(max_unindexed, growth * indexed)``.
    """

    def __init__(
        self,
        path: str | Path,
        auto_optimize: bool = True,
        idle_s: float = DEFAULT_IDLE_S,
        max_unindexed: int = DEFAULT_MAX_UNINDEXED,
        growth: float = DEFAULT_GROWTH,
    ) -> None:
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
        if not str(path).strip():
            raise ValueError(f"path must name a directory, got {path!r}")
        if not isinstance(auto_optimize, bool):
            raise TypeError(f"auto_optimize must be a bool, got {auto_optimize!r}")
        self.location = Path(path).expanduser()
        self.auto_optimize = auto_optimize
        self._lock = threading.RLock()
        self._closed = False
        self.optimizer = BackgroundOptimizer(
            self._build_index,
            self._index_counts,
            idle_s=idle_s,
            max_unindexed=max_unindexed,
            growth=growth,
        )
        self.collections: dict[str, EdgeCollection] = open_storage(self.location)

    @property
    def closed(self) -> bool:
        """Whether `close` was called (every call then raises)."""
        return self._closed

    def close(self) -> None:
        """Wait for a running background build, then close every shard (releasing the
        directory for another client)."""
        self.optimizer.stop()
        with self._lock:
            for collection in self.collections.values():
                collection.shard.close()
            self.collections.clear()
            self._closed = True

    def check_open(self) -> None:
        """Raise ``RuntimeError`` once closed."""
        if self._closed:
            raise RuntimeError("EdgeQdrantClient is closed; create a new one")

    def collection(self, name: str) -> EdgeCollection:
        """The collection ``name``; ``ValueError`` when there is none."""
        self.check_open()
        try:
            return self.collections[name]
        except KeyError:
            raise ValueError(f"Collection {name} not found") from None

    def written(self, collection: EdgeCollection, bulk: bool = False) -> None:
        """Keep the HNSW index built: Edge has no optimizer of its own.

        A write only tells the `BackgroundOptimizer`, which builds once the burst has been
        quiet for ``idle_s`` (Edge's optimize also vacuums deleted points), so writes do not
        wait for builds (issue 16: the old synchronous doubling left up to half the points
        unindexed and stalled the write that crossed each doubling). Bulk uploads build at
        their end, like the server's ``wait=True``. Unindexed points are searched exactly,
        so a write is searchable when it returns either way.
        """
        if not self.auto_optimize:
            return
        if bulk:
            edge_call(collection.shard.optimize)
        else:
            self.optimizer.notify(collection.name)

    def _build_index(self, name: str) -> bool:
        """The background build: under the lock, so a closing or deleting call waits."""
        with self._lock:
            collection = None if self._closed else self.collections.get(name)
            return collection is not None and bool(edge_call(collection.shard.optimize))

    def _index_counts(self, name: str) -> tuple[int, int]:
        """``(indexed, unindexed)`` points of collection ``name`` for the optimizer."""
        with self._lock:
            collection = None if self._closed else self.collections.get(name)
            if collection is None:
                return 0, 0
            info = edge_call(collection.shard.info)
            # indexed_vectors_count still counts deleted points until a build vacuums them
            indexed = min(info.indexed_vectors_count, info.points_count)
            return indexed, info.points_count - indexed

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index of pending points now; ``True`` if anything was rebuilt."""
        collection = self.collection(collection_name)
        with self._lock:  # never beside a background build of the same shard
            return bool(edge_call(collection.shard.optimize))

    def flush(self, collection_name: str | None = None) -> None:
        """Persist pending writes of one collection (or all) to disk."""
        names = [collection_name] if collection_name else list(self.collections)
        for name in names:
            edge_call(self.collection(name).shard.flush)

    # ------------------------------------------------------------------ collections

    def names(self) -> list[str]:
        """The collection names."""
        self.check_open()
        return list(self.collections)

    def create_collection(self, name: str, config: models.CreateCollection) -> None:
        """Create collection ``name`` as the server would from ``config``."""
        check_collection_name(name)
        with self._lock:
            self.check_open()
            if name in self.collections:
                raise ValueError(f"Collection {name} already exists")
            path = self.location / "collections" / name
            self.collections[name] = EdgeCollection.create(path, config)

    def delete_collection(self, name: str) -> bool:
        """Delete collection ``name``; ``False`` when there was none."""
        with self._lock:
            self.check_open()
            collection = self.collections.pop(name, None)
            if collection is None:
                return False
            self.optimizer.forget(name)
            collection.delete()
            return True

    def info(self, name: str) -> models.CollectionInfo:
        """``get_collection``'s answer for collection ``name``, with the background optimizer's
        state as a server reports it: ``grey`` while a build is due, ``yellow`` while one
        runs, ``red`` with ``optimizer_status.error`` after a failed build, else ``green``."""
        collection = self.collection(name)
        shard = edge_call(collection.shard.info)
        info = collection_info(collection.config, collection.payload_indexes, shard)
        return info.model_copy(update=self._optimizer_status(name))

    def _optimizer_status(self, name: str) -> dict[str, object]:
        error = self.optimizer.error(name)
        if error is not None:
            return {
                "status": models.CollectionStatus.RED,
                "optimizer_status": models.OptimizersStatusOneOf1(error=error),
            }
        state = self.optimizer.state(name)
        if state == "optimizing":
            return {"status": models.CollectionStatus.YELLOW}
        if state == "pending":
            return {"status": models.CollectionStatus.GREY}
        return {}

    def create_payload_index(self, name: str, field_name: str, schema: FieldSchema) -> None:
        """Index payload field ``field_name`` of collection ``name`` with ``schema``."""
        collection = self.collection(name)
        operation = edge.UpdateOperation.create_field_index(
            field_name, field_schema_to_edge(schema)
        )
        with self._lock:
            edge_call(collection.shard.update, operation)
            collection.payload_indexes[field_name] = schema
            collection.save()

    def delete_payload_index(self, name: str, field_name: str) -> None:
        """Drop the index of payload field ``field_name``."""
        collection = self.collection(name)
        with self._lock:
            edge_call(collection.shard.update, edge.UpdateOperation.delete_field_index(field_name))
            collection.payload_indexes.pop(field_name, None)
            collection.save()

    # ------------------------------------------------------------------ writes

    def update(self, collection: EdgeCollection, operation: edge.UpdateOperation) -> None:
        """Apply one write to ``collection``, then keep its index built."""
        edge_call(collection.shard.update, operation)
        self.written(collection)

    def upload(
        self,
        collection: EdgeCollection,
        points: Iterable[edge.Point],
        batch_size: int,
        condition: edge.Filter | None = None,
        mode: edge.UpdateMode | None = None,
    ) -> None:
        """Upsert ``points`` in batches (applied before returning), then build the index once."""
        size = max(int(batch_size or 64), _MIN_UPLOAD_BATCH)
        batch: list[edge.Point] = []
        for point in points:
            batch.append(point)
            if len(batch) >= size:
                operation = edge.UpdateOperation.upsert_points(batch, condition, mode)
                edge_call(collection.shard.update, operation)
                batch = []
        if batch:
            operation = edge.UpdateOperation.upsert_points(batch, condition, mode)
            edge_call(collection.shard.update, operation)
        self.written(collection, bulk=True)
