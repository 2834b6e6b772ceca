"""Writes made through a client object by anyone: LlamaIndex's store, direct ``client.upsert``.

A `CachedQdrantVectorStore` caches query results per collection epoch and bumps the epoch on
its own writes. Another writer on the *same* client object (LlamaIndex's ``QdrantVectorStore``
built over it, or code calling ``client.upsert``/``delete``/``set_payload`` directly) would
leave those results stale, so the store asks `watch_client` to wrap the client's write
methods (instance attributes over the class's methods; nothing else on the client changes).
Each wrapped call tells every store watching that collection, before and after it runs:

* each store starts a new cache epoch (before: a query racing the write cannot cache under
  the epoch that outlives it; after: nothing cached during the write is served later);
* after it, each store tells its write listeners that the collection changed in ways it did
  not make (``WriteKind.RESTORE``: a BM25 index kept in step re-reads the collection);
* a collection created, dropped or re-pointed by an alias makes the stores re-read its layout.

The store whose own operation made the call is not told again (`own_writes`), and calls a
wrapped method makes to another (``upload_points`` to ``upsert``) count once.
Writers this cannot see (another process, another client object) are caught by the store's
freshness check instead (``CachedQdrantVectorStore.freshness_interval``).

Example:
    >>> from qdrant_client import QdrantClient, models
    >>> client = QdrantClient(":memory:")
    >>> seen = []
    >>> class Follower:
    ...     write_owner = None
    ...     def foreign_write(self, collection, method, done):
    ...         seen.append((collection, method, done))
    >>> follower = Follower()
    >>> watch_client(client, "docs", follower)
    True
    >>> _ = client.create_collection(
    ...     "docs", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    >>> seen
    [('docs', 'create_collection', False), ('docs', 'create_collection', True)]
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

# The qdrant-client calls that change what a collection name means: after them a store reads
# the collection's layout again.
LAYOUT_METHODS = (
    "create_collection",
    "recreate_collection",
    "delete_collection",
    "update_collection_aliases",
    "recover_snapshot",
    "recover_shard_snapshot",
)
# Every qdrant-client method that changes points, payloads or what a collection name means.
WRITE_METHODS = (
    "upsert",
    "upload_points",
    "upload_collection",
    "upload_records",
    "delete",
    "update_vectors",
    "delete_vectors",
    "set_payload",
    "overwrite_payload",
    "delete_payload",
    "clear_payload",
    "batch_update_points",
    *LAYOUT_METHODS,
)

# The watcher whose own operation is running in this context (its calls are not foreign),
# and whether a wrapped call is already running (a nested one counts once).
_NOBODY = object()
_OWN: contextvars.ContextVar[object] = contextvars.ContextVar("ragdrop_own", default=_NOBODY)
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("ragdrop_inside", default=False)


class ForeignWriteWatcher(Protocol):
    """What `watch_client` tells: a write ``method`` on ``collection`` starts or is done.

    ``write_owner`` names whose writes the watcher makes itself (`own_writes`).
    """

    write_owner: object

    def foreign_write(self, collection: str | None, method: str, done: bool) -> None: ...


@contextmanager
def own_writes(owner: object) -> Iterator[None]:
    """Calls made inside this block are ``owner``'s own: watchers whose ``write_owner`` it
    is are not told of them."""
    token = _OWN.set(owner)
    try:
        yield
    finally:
        _OWN.reset(token)


def _collection_of(method: str, args: tuple[object, ...], kwargs: dict[str, object]) -> str | None:
    """The collection a write call names (None: unknown, e.g. an alias change)."""
    if method == "update_collection_aliases":
        return None
    name = kwargs.get("collection_name", args[0] if args else None)
    return name if isinstance(name, str) else None


class _ClientWatch:
    """The watchers of one client object, per collection (held weakly)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watchers: dict[str, weakref.WeakSet[ForeignWriteWatcher]] = {}

    def add(self, collection: str, watcher: ForeignWriteWatcher) -> None:
        with self.lock:
            self.watchers.setdefault(collection, weakref.WeakSet()).add(watcher)

    def tell(self, collection: str | None, method: str, done: bool) -> None:
        own = _OWN.get()
        with self.lock:
            if collection is None:  # an alias may re-point any name
                targets = [w for ws in self.watchers.values() for w in ws]
            else:
                targets = list(self.watchers.get(collection, ()))
        for watcher in targets:
            if watcher.write_owner is not own:
                watcher.foreign_write(collection, method, done)

    def wrap(
        self, method: str, function: Callable[..., object], client: object
    ) -> Callable[..., object]:
        """``function`` (the class's method) bound to ``client`` through a weak reference:
        the wrapper on the instance must not keep its client alive (a local-mode client
        releases its folder when it is collected)."""
        ref = weakref.ref(client)

        def target() -> object:
            bound = ref()
            if bound is None:
                raise RuntimeError(f"{method}: the client was closed and collected")
            return bound

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def awrapped(*args: object, **kwargs: object) -> object:
                if _INSIDE.get():
                    return await function(target(), *args, **kwargs)  # type: ignore[misc]
                collection = _collection_of(method, args, kwargs)
                token = _INSIDE.set(True)
                self.tell(collection, method, False)
                try:
                    return await function(target(), *args, **kwargs)  # type: ignore[misc]
                finally:
                    _INSIDE.reset(token)
                    self.tell(collection, method, True)

            return awrapped

        @functools.wraps(function)
        def wrapped(*args: object, **kwargs: object) -> object:
            if _INSIDE.get():
                return function(target(), *args, **kwargs)
            collection = _collection_of(method, args, kwargs)
            token = _INSIDE.set(True)
            self.tell(collection, method, False)
            try:
                return function(target(), *args, **kwargs)
            finally:
                _INSIDE.reset(token)
                self.tell(collection, method, True)

        return wrapped


# client id -> its watch; entries leave when the client is collected.
_WATCHES: dict[int, _ClientWatch] = {}
_WATCHES_LOCK = threading.Lock()


def _install(client: object) -> _ClientWatch | None:
    key = id(client)
    with _WATCHES_LOCK:
        watch = _WATCHES.get(key)
        if watch is not None:
            return watch
        try:
            weakref.finalize(client, _WATCHES.pop, key, None)
        except TypeError:  # not weak-referenceable: its writes are left to the freshness check
            return None
        watch = _ClientWatch()
        own = getattr(client, "__dict__", {})
        for method in WRITE_METHODS:
            function = getattr(type(client), method, None)
            if not inspect.isfunction(function) or method in own:
                continue  # not a plain method, or already replaced on this instance
            try:
                setattr(client, method, watch.wrap(method, function, client))
            except (AttributeError, TypeError):  # slots or a frozen adapter
                continue
        _WATCHES[key] = watch
        return watch


def watch_client(client: object | None, collection: str, watcher: ForeignWriteWatcher) -> bool:
    """Tell ``watcher`` of every write call on ``collection`` through ``client``.

    Returns False when the client cannot be watched (its writes are then left to the
    store's freshness check). Holds ``watcher`` weakly; installs the wrappers once per
    client.
    """
    if client is None:
        return False
    watch = _install(client)
    if watch is None:
        return False
    watch.add(collection, watcher)
    return True


__all__ = [
    "LAYOUT_METHODS",
    "WRITE_METHODS",
    "ForeignWriteWatcher",
    "own_writes",
    "watch_client",
]
