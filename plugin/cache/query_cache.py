"""Query results cached per collection write epoch, so a cached answer is never stale.

Every write through any store that shares the cache directory replaces the collection's
epoch token (a random value, so an evicted epoch can never come back with an old value).
A query reads the epoch when it starts, keys its result on it, and stores the result only if
the epoch is unchanged when it finishes. A result computed before a write is therefore never
served after it. Writers that share neither the directory nor the client object are caught
by `QueryResultCache.check_signature` (the store compares the collection's point count at
most every ``freshness_interval`` seconds); the TTL bounds what no check can see (an in-place
update by such a writer).

Example:
    >>> cache = QueryResultCache(SafeCache(tmp, namespace="queries"), ttl=300)  # doctest: +SKIP
    >>> epoch = cache.epoch("qdrant:/data", "docs")  # doctest: +SKIP
    >>> key = cache.key(epoch, top_k=5, vector=b"...")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ragdrop.cache.keys import cache_key
from ragdrop.cache.safe_cache import SafeCache


def epoch_key(scope: str, collection: str) -> str:
    """The cache key that holds the write epoch of ``collection`` in ``scope``."""
    return "epoch:" + cache_key("collection-epoch", scope=scope, collection=collection)


class QueryResultCache:
    """JSON query results keyed by a SHA-256 of their inputs and the collection's epoch.

    Args:
        cache: the `SafeCache` to hold epochs and results (share its directory between
            processes to share invalidation).
        ttl: seconds a result may be served (bounds staleness from foreign writers).

    Example:
        >>> qc = QueryResultCache(SafeCache(tmp), ttl=60)  # doctest: +SKIP
    """

    def __init__(self, cache: SafeCache, *, ttl: float = 300.0) -> None:
        if not isinstance(cache, SafeCache):
            raise TypeError(f"cache must be a SafeCache, got {type(cache).__name__}")
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"ttl={ttl!r} must be a positive number of seconds")
        self.cache = cache
        self.ttl = float(ttl)

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
        """The cached JSON result, or None."""
        return self.cache.get_json(key)

    def put(self, key: str, value: Any, *, scope: str, collection: str, epoch: str) -> bool:
        """Store ``value`` only if ``epoch`` is still current; True if stored.

        The key already contains ``epoch``, so even a write that lands between this check
        and the store only leaves an entry nobody will ask for again.
        """
        if self.epoch(scope, collection) != epoch:
            return False
        self.cache.set_json(key, value, expire=self.ttl)
        return True


__all__ = ["QueryResultCache", "epoch_key"]
