"""What every operation of a store shares about its collection: layout, epochs, listeners.

`CollectionState` is the narrow interface the store's operations (`writes`, `reads`,
`operations`) work through, instead of the store's private attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ragdrop.cache.query_cache import QueryResultCache
from ragdrop.core.protocols import WriteEvent, WriteListener
from ragdrop.observability.stages import Stage, stage
from ragdrop.vector_stores.calls import Call, Op, Parallel
from ragdrop.vector_stores.settings import CollectionLayout, CollectionSettings, read_layout


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
    """

    def __init__(
        self, fields: StoreFields, scope: str, local: bool, *, native_mmr: bool = False
    ) -> None:
        self.fields = fields
        self.scope = scope
        self.local = local
        self.native_mmr = native_mmr
        self.layout: CollectionLayout | None = None
        self._listeners: list[WriteListener] = []

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

    # -- cache epochs ------------------------------------------------------------------------
    def invalidate(self) -> None:
        """Start a new cache epoch: no result cached before this write is served again."""
        cache = self.fields.query_cache
        if cache is not None:
            with stage(Stage.CACHE):
                cache.bump(self.scope, self.name)

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
