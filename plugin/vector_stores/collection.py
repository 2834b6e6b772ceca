"""What every operation of a store shares about its collection: layout, epochs, listeners.

`CollectionState` is the narrow interface the store's operations (`writes`, `reads`,
`operations`) work through, instead of the store's private attributes.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Protocol

from llama_index.core.vector_stores.types import VectorStoreQueryResult

from ragdrop.cache.query_cache import QueryResultCache
from ragdrop.core.protocols import WriteEvent, WriteKind, WriteListener
from ragdrop.observability.stages import Stage, stage
from ragdrop.vector_stores.calls import Call, Op, Parallel
from ragdrop.vector_stores.client_watch import LAYOUT_METHODS
from ragdrop.vector_stores.points import result_from_json
from ragdrop.vector_stores.settings import CollectionLayout, CollectionSettings, read_layout

logger = logging.getLogger(__name__)


def _decode_result(data: object, text_key: str) -> VectorStoreQueryResult | None:
    """A cached query result rebuilt once, to copy from (None: unreadable, a miss)."""
    if not isinstance(data, dict):
        return None
    try:
        return result_from_json(data, text_key)
    except (KeyError, TypeError, ValueError):
        return None


class StoreFields(Protocol):
    """The public settings of a store that its operations read (at call time)."""

    collection_name: str
    settings: CollectionSettings
    enable_hybrid: bool
    batch_size: int
    flat_metadata: bool
    rrf_k: int
    text_key: str

    @property
    def hybrid_fusion(self) -> str: ...

    @property
    def freshness_interval(self) -> float | None: ...

    @property
    def query_cache(self) -> QueryResultCache | None: ...


class CollectionState:
    """The runtime state of one store over one collection.

    Args:
        fields: the store whose public settings the operations read.
        scope: names the Qdrant data the client reaches (cache epochs are per scope).
        local: qdrant-client local mode (no payload indexes, no snapshots, exact search).
        native_mmr: MMR queries use the query API's MMR (a Qdrant server, and Qdrant Edge,
            which computes it next to the vectors instead of returning them); otherwise MMR is
            computed here over candidates fetched with their vectors (local mode).
        remote: a Qdrant server (the freshness check counts points exactly there; elsewhere
            the collection info's point count is exact and cheaper).
    """

    def __init__(
        self,
        fields: StoreFields,
        scope: str,
        local: bool,
        *,
        native_mmr: bool = False,
        remote: bool = False,
    ) -> None:
        self.fields = fields
        self.scope = scope
        self.local = local
        self.native_mmr = native_mmr
        self.remote = remote
        self.layout: CollectionLayout | None = None
        self._listeners: list[WriteListener] = []
        # Whose writes these are: a store and its copies share it (and their listeners), so
        # a copy's write through the same client is not foreign to the original.
        self.write_owner: object = object()
        self._checked_at = float("-inf")
        # The last check could not record what it found (the cache's storage is down): no
        # result is served or kept until a check succeeds.
        self._unconfirmed = False
        # One decoder per store (the query cache keeps what each decoder made, per entry).
        self.decode_result = partial(_decode_result, text_key=fields.text_key)
        self.foreign_errors = 0

    @property
    def name(self) -> str:
        """The collection name."""
        return self.fields.collection_name

    # -- listeners ---------------------------------------------------------------------------
    def add_listener(self, listener: WriteListener) -> None:
        """Call ``listener(WriteEvent)`` after every successful write."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: WriteListener) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def listeners(self) -> tuple[WriteListener, ...]:
        """The listeners, in the order they are called."""
        return tuple(self._listeners)

    def notify(self, event: WriteEvent) -> None:
        """Tell every listener what a write changed."""
        for listener in list(self._listeners):
            listener(event)

    # -- foreign writers ---------------------------------------------------------------------
    def foreign_write(self, collection: str | None, method: str, done: bool) -> None:
        """Another writer on this store's client is writing ``collection`` (`client_watch`).

        Before and after the call: a new cache epoch. After it: the layout is read again if
        the collection itself changed, and the listeners hear that the collection changed
        in ways this store did not make (``WriteKind.RESTORE``: re-read it). A listener's
        failure is logged and counted (``foreign_errors``), never raised into the other
        writer's call, which has already succeeded or failed on its own.
        """
        self.invalidate()
        if not done:
            return
        if method in LAYOUT_METHODS:
            self.forget_layout()
        try:
            self.notify(WriteEvent(kind=WriteKind.RESTORE))
        except Exception:
            self.foreign_errors += 1
            logger.exception(
                "collection %r changed through another writer (%s); a write listener failed "
                "to re-read it",
                self.name,
                method,
            )

    # -- cache epochs ------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Start a new cache epoch: no result cached before this write is served again."""
        cache = self.fields.query_cache
        if cache is not None:
            with stage(Stage.CACHE):
                cache.bump(self.scope, self.name)

    def epoch_op(self) -> Op:
        """The collection's current cache epoch (None without a cache).

        Results keyed on it are never served after a write that any store sharing the
        cache, or any writer on the same client object, made (see the store's docstring).
        """
        cache = self.fields.query_cache
        if cache is None:
            return None
        interval = self.fields.freshness_interval
        now = time.monotonic()
        if interval is not None and now - self._checked_at >= interval:
            signature = yield from self._signature_op()
            self._checked_at = now
            with stage(Stage.CACHE):
                try:
                    cache.check_signature(self.scope, self.name, signature)
                    self._unconfirmed = False
                except RuntimeError:  # a change it could not record (Redis down): logged
                    self._unconfirmed = True
        if self._unconfirmed:
            return uuid.uuid4().hex  # an epoch nothing was cached under: answered uncached
        with stage(Stage.CACHE):
            return cache.epoch(self.scope, self.name)

    def _signature_op(self) -> Op:
        """What the freshness check compares: the collection's point count (-1: none)."""
        try:
            if self.remote:
                result = yield Call("count", {"collection_name": self.name, "exact": True})
                return int(result.count)
            info = yield Call("get_collection", {"collection_name": self.name})
            return int(info.points_count or 0)
        except Exception:
            exists = yield Call("collection_exists", {"collection_name": self.name})
            if exists:
                raise
            return -1

    # -- layout ------------------------------------------------------------------------------
    def forget_layout(self) -> None:
        """The collection was dropped or replaced: read its layout again before the next use."""
        self.layout = None

    def _check_layout(self, layout: CollectionLayout) -> None:
        settings = self.fields.settings
        explicit = "distance" in settings.model_fields_set
        if explicit and layout.distance != settings.distance:
            raise ValueError(
                f"collection {self.name!r} uses distance {layout.distance}, "
                f"settings ask for {settings.distance}; use another collection or "
                f"settings.distance={layout.distance!r}"
            )
        if self.fields.enable_hybrid and layout.sparse_name is None:
            raise ValueError(
                f"collection {self.name!r} has no sparse vector, so "
                "enable_hybrid=True cannot write or search it; use a new collection or "
                "enable_hybrid=False"
            )

    def ensure_layout(self, create_size: int | None = None) -> Op:
        """The collection's layout; creates the collection if ``create_size`` is given.

        Returns None when the collection does not exist (and was not created).
        """
        if self.layout is not None:
            return self.layout
        exists = yield Call("collection_exists", {"collection_name": self.name})
        if not exists:
            if create_size is None:
                return None
            settings = self.fields.settings
            kwargs = settings.create_kwargs(
                self.name, create_size, hybrid=self.fields.enable_hybrid
            )
            try:
                yield Call("create_collection", kwargs)
            except Exception:
                # Another writer may have created it first; then use theirs.
                if not (yield Call("collection_exists", {"collection_name": self.name})):
                    raise
            else:
                if not self.local:
                    for index in settings.payload_index_kwargs(self.name):
                        yield Call("create_payload_index", index)
        info = yield Call("get_collection", {"collection_name": self.name})
        layout = read_layout(info, self.name)
        self._check_layout(layout)
        self.layout = layout
        return layout

    def with_layout(
        self, build: Callable[[CollectionLayout], Call | Parallel], create_size: int | None = None
    ) -> Op:
        """Send ``build(layout)``; if it fails on a remembered layout (the collection may have
        been dropped or recreated by someone else), re-read the layout and try once more.
        Returns (layout, response), or (None, None) when the collection does not exist."""
        remembered = self.layout is not None
        layout = yield from self.ensure_layout(create_size)
        if layout is None:
            return None, None
        try:
            return layout, (yield build(layout))
        except Exception:
            if not remembered:
                raise
        self.layout = None
        layout = yield from self.ensure_layout(create_size)
        if layout is None:
            return None, None
        return layout, (yield build(layout))
