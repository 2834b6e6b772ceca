"""Query results cached per collection write epoch, so a cached answer is never stale.

Every write through any store that shares the cache directory replaces the collection's
epoch token (a random value, so an evicted epoch can never come back with an old value).
A query reads the epoch when it starts, keys its result on it, and stores the result only if
the epoch is unchanged when it finishes. A result computed before a write is therefore never
served after it. Writers that share neither the directory nor the client object are caught
by `QueryResultCache.check_signature` (the store compares the collection's point count at
most every ``freshness_interval`` seconds); the TTL bounds what no check can see (an in-place
update by such a writer).

Results are also held, decoded, in a small in-process LRU (bounded in entries and in bytes of
JSON) keyed by the full result key. The key contains the epoch, which every lookup still
reads from the shared cache, so a held entry can only be found while its epoch is current:
a write by this process, another store or another process makes it unreachable exactly as it
does the disk entry. A held entry expires with its disk entry (the TTL is written in the
stored value), and the disk entry is never consulted while the memory holds the key, so a
disk entry damaged later does not matter here (another process reads it as a miss).

Example:
    >>> cache = QueryResultCache(SafeCache(tmp, namespace="queries"), ttl=300)  # doctest: +SKIP
    >>> epoch = cache.epoch("qdrant:/data", "docs")  # doctest: +SKIP
    >>> key = cache.key(epoch, top_k=5, vector=b"...")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ragdrop.cache.backend import CacheBackend, open_cache
from ragdrop.cache.keys import cache_key

T = TypeVar("T")
# Stored values are ``{"expires_at": <unix time>, "value": <the JSON result>}``: the memory
# layer needs the disk entry's deadline. Entries of the earlier bare format are misses.
_ENVELOPE_KEYS = frozenset({"expires_at", "value"})
_UNREAD = object()
# No write on every hit (a folder's cache stays on SQLite's read path); Redis ignores it.
_POLICY = "least-recently-stored"


def epoch_key(scope: str, collection: str) -> str:
    """The cache key that holds the write epoch of ``collection`` in ``scope``."""
    return "epoch:" + cache_key("collection-epoch", scope=scope, collection=collection)


@dataclass
class MemoryStats:
    """Counters of a `QueryResultCache`'s in-process layer (this instance only)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0


@dataclass
class _Held:
    raw: bytes  # the stored JSON (its length counts against ``memory_bytes``)
    deadline: float  # time.monotonic() when the disk entry expires
    decoded: dict[object, object] = field(default_factory=dict)


class QueryResultCache:
    """JSON query results keyed by a SHA-256 of their inputs and the collection's epoch.

    Args:
        cache: the `SafeCache` or `RedisCache` to hold epochs and results (share its
            directory, or the Redis, between processes to share invalidation).
        ttl: seconds a result may be served (bounds staleness from foreign writers).
        memory_entries: results held decoded in this process (0: none, every hit reads disk).
        memory_bytes: most bytes of stored JSON held in this process; a larger result is
            not held.

    Example:
        >>> qc = QueryResultCache(SafeCache(tmp), ttl=60)  # doctest: +SKIP
    """

    def __init__(
        self,
        cache: CacheBackend,
        *,
        ttl: float = 300.0,
        memory_entries: int = 256,
        memory_bytes: int = 16 * 2**20,
    ) -> None:
        if not isinstance(cache, CacheBackend):
            raise TypeError(
                f"cache must be a SafeCache or a RedisCache (see open_cache), "
                f"got {type(cache).__name__}"
            )
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"ttl={ttl!r} must be a positive number of seconds")
        for name, bound in (("memory_entries", memory_entries), ("memory_bytes", memory_bytes)):
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
                raise ValueError(f"{name}={bound!r} must be an int >= 0")
        self.cache = cache
        self.ttl = float(ttl)
        self.memory_entries = memory_entries
        self.memory_bytes = memory_bytes
        self.memory_stats = MemoryStats()
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._held_bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, location: str | Path, *, ttl: float = 300.0) -> QueryResultCache:
        """A query cache in the folder or Redis URL ``location`` (namespace ``queries``)."""
        backend = open_cache(location, namespace="queries", eviction_policy=_POLICY)
        return cls(backend, ttl=ttl)

    def __getstate__(self) -> dict[str, Any]:
        # A copy (copy.deepcopy) shares the directory; the in-memory layer stays behind.
        return {
            "cache": self.cache,
            "ttl": self.ttl,
            "memory_entries": self.memory_entries,
            "memory_bytes": self.memory_bytes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["cache"],
            ttl=state["ttl"],
            memory_entries=state["memory_entries"],
            memory_bytes=state["memory_bytes"],
        )

    def epoch(self, scope: str, collection: str) -> str:
        """The current epoch token of ``collection`` (created if absent)."""
        return self.cache.get_token(epoch_key(scope, collection))

    def bump(self, scope: str, collection: str) -> str:
        """Start a new epoch: every result cached before this call stops matching."""
        return self.cache.bump_token(epoch_key(scope, collection))

    def check_signature(self, scope: str, collection: str, signature: object) -> bool:
        """Start a new epoch if ``signature`` (e.g. the point count) differs from the one
        the last check recorded; True if it did.

        The last signature is kept in the cache, so the check holds across restarts and
        between processes: a change made while nobody was looking is caught by the first
        check after it; with no signature recorded (a new cache, or it was evicted) nothing
        is known, so that counts as a change too. A write through a store changes the
        signature, so the first check after it starts one more epoch than needed: results
        cached in between are computed once more, never served stale.
        """
        key = "signature:" + epoch_key(scope, collection)
        seen = self.cache.get_json(key)
        if isinstance(seen, dict) and seen.get("signature") == signature:
            return False
        self.bump(scope, collection)
        self.cache.set_json(key, {"signature": signature})
        return True

    @staticmethod
    def key(epoch: str, **fields: Any) -> str:
        """The result key: canonical JSON of the epoch and every input of the query."""
        return "result:" + cache_key(epoch=epoch, **fields)

    def get(self, key: str) -> Any | None:
        """The cached JSON result (a new object on every call: the caller owns it), or None."""
        found = self._lookup(key)
        if found is None:
            return None
        held, value = found
        return _value(held.raw) if value is _UNREAD else value

    def get_decoded(self, key: str, decode: Callable[[Any], T | None]) -> T | None:
        """``decode(result)``, computed once per held entry; None when absent or when
        ``decode`` returns None (an entry it cannot read is a miss).

        The decoded object is shared by every later call with the same ``decode`` (pass the
        same function each time): treat it as read-only and hand callers copies of it.
        """
        found = self._lookup(key)
        if found is None:
            return None
        held, value = found
        decoded = held.decoded.get(decode, _UNREAD)
        if decoded is not _UNREAD:
            return decoded  # type: ignore[return-value]
        decoded = decode(_value(held.raw) if value is _UNREAD else value)
        if decoded is not None:
            with self._lock:
                held.decoded[decode] = decoded
        return decoded

    def put(self, key: str, value: Any, *, scope: str, collection: str, epoch: str) -> bool:
        """Store ``value`` only if ``epoch`` is still current; True if stored.

        The key already contains ``epoch``, so even a write that lands between this check
        and the store only leaves an entry nobody will ask for again.
        """
        if self.epoch(scope, collection) != epoch:
            return False
        deadline = time.monotonic() + self.ttl
        envelope = {"expires_at": time.time() + self.ttl, "value": value}
        raw = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = raw.encode("utf-8")
        self.cache.set_bytes(key, data, expire=self.ttl)
        self._hold(key, _Held(data, deadline))
        return True

    def forget_memory(self) -> None:
        """Drop every result held in this process (the disk entries stay)."""
        with self._lock:
            self._held.clear()
            self._held_bytes = 0

    # -- the in-process layer ---------------------------------------------------------------
    def _lookup(self, key: str) -> tuple[_Held, object] | None:
        """The held entry of ``key``, else the disk entry (then held), with the result when
        this call parsed it (`_UNREAD` otherwise); None if neither holds one."""
        now = time.monotonic()
        with self._lock:
            held = self._held.get(key)
            if held is not None and held.deadline > now:
                self._held.move_to_end(key)
                self.memory_stats.hits += 1
                return held, _UNREAD
            if held is not None:
                self._drop(key)
            self.memory_stats.misses += 1
        raw = self.cache.get_bytes(key)
        if raw is None:
            return None
        read = _read(raw, now)
        if read is None:
            return None  # the earlier format, damaged, or expired: recomputed and replaced
        held = _Held(raw, read[0])
        self._hold(key, held)
        return held, read[1]

    def _hold(self, key: str, held: _Held) -> None:
        size = len(held.raw)
        with self._lock:
            if key in self._held:
                self._drop(key)
            if self.memory_entries == 0 or size > self.memory_bytes:
                return
            self._held[key] = held
            self._held_bytes += size
            while len(self._held) > self.memory_entries or self._held_bytes > self.memory_bytes:
                self._drop(next(iter(self._held)))
                self.memory_stats.evictions += 1

    def _drop(self, key: str) -> None:
        held = self._held.pop(key)
        self._held_bytes -= len(held.raw)


def _value(raw: bytes) -> Any:
    """The result in a stored envelope (checked by `_read` when it was read from disk)."""
    return json.loads(raw)["value"]


def _read(raw: bytes, now: float) -> tuple[float, object] | None:
    """The monotonic deadline and the result of a stored envelope; None if ``raw`` is not
    one or has expired (``now``: the caller's ``time.monotonic()``)."""
    try:
        envelope = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None
    if type(envelope) is not dict or envelope.keys() != _ENVELOPE_KEYS:
        return None
    expires_at = envelope["expires_at"]
    if type(expires_at) is not float:
        return None
    left = expires_at - time.time()
    return (now + left, envelope["value"]) if left > 0 else None


__all__ = ["MemoryStats", "QueryResultCache", "epoch_key"]
