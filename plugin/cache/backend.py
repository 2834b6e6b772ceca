"""What every cache backend offers (`CacheBackend`) and `open_cache`, which picks one.

A folder is a `SafeCache` (diskcache, one machine); a ``redis://`` or ``rediss://`` URL is a
`RedisCache` shared by every process that points at the same Redis. Both hold only bytes and
JSON (nothing executable is read back), answer a miss instead of raising when their storage fails, and keep
write epochs as random tokens, so `QueryResultCache` and `CachedEmbedding` work on either.

Example:
    >>> import tempfile
    >>> type(open_cache(tempfile.mkdtemp(), namespace="queries")).__name__
    'SafeCache'
    >>> open_cache("redis://:secret@127.0.0.1:6379/0", namespace="queries")
    RedisCache(url='redis://:***@127.0.0.1:6379/0', namespace='queries')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from ragdrop.cache.safe_cache import CacheStats, SafeCache
from ragdrop.core.urls import (
    REDIS_SCHEMES,
    SCHEME_RE,
    check_cache_url,
    redact_url,
    redacted_secret_url,
    url_secret,
)


@runtime_checkable
class CacheBackend(Protocol):
    """The part of `SafeCache` that the query, embedding and rerank caches use.

    Reads answer None on a miss, on a damaged or foreign entry and when the storage cannot
    be reached; writes of entries are skipped on failure. `bump_token` is the exception: it
    raises RuntimeError when the new epoch cannot be recorded, since results cached under
    the old one would otherwise stay servable.
    """

    @property
    def namespace(self) -> str: ...

    @property
    def stats(self) -> CacheStats: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def set_bytes(self, key: str, value: bytes, expire: float | None = None) -> None: ...

    def set_many_bytes(
        self, items: list[tuple[str, bytes]], expire: float | None = None
    ) -> None: ...

    def get_json(self, key: str) -> Any | None: ...

    def set_json(self, key: str, value: Any, expire: float | None = None) -> None: ...

    def get_token(self, key: str) -> str: ...

    def bump_token(self, key: str) -> str: ...

    def delete(self, key: str) -> bool: ...

    def clear(self) -> int: ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...


def open_cache(
    location: str | Path,
    *,
    namespace: str = "default",
    size_limit: int | None = None,
    eviction_policy: str | None = None,
    ttl: float | None = None,
    max_entry_bytes: int | None = None,
    timeout_ms: float | None = None,
    registry: Any = None,
) -> CacheBackend:
    """A `SafeCache` in the folder ``location``, or a `RedisCache` for a Redis URL.

    Args:
        location: a folder (str or Path), or ``redis://[[user]:password@]host[:port][/db]``
            / ``rediss://...`` (TLS).
        namespace: the cache's role (``queries``, ``embeddings``, ...).
        size_limit, eviction_policy: the folder's bounds (None: `SafeCache`'s defaults);
            a Redis server's memory is bounded by its own ``maxmemory`` and policy instead.
        ttl, max_entry_bytes, timeout_ms: Redis only (None: `RedisCache`'s defaults).
        registry: a prometheus ``CollectorRegistry`` to count events in.

    Raises ValueError naming ``location`` for a URL of another scheme or an empty string,
    TypeError for anything but a str or Path. Nothing is connected to here.
    """
    if isinstance(location, Path):
        return _safe_cache(location, namespace, size_limit, eviction_policy, registry)
    if not isinstance(location, str):
        raise TypeError(
            f"location must be a folder (str or Path) or a redis:// URL, "
            f"got {type(location).__name__}"
        )
    if not location.strip():
        raise ValueError("location='' is empty; give a cache folder or a redis:// URL")
    scheme = SCHEME_RE.match(location)
    if scheme is None:
        return _safe_cache(Path(location), namespace, size_limit, eviction_policy, registry)
    if scheme.group(1).lower() not in REDIS_SCHEMES:
        raise ValueError(
            f"location={redact_url(location)!r} has an unsupported scheme "
            f"{scheme.group(1)!r}; use a folder, or one of "
            f"{[s + '://' for s in REDIS_SCHEMES]}"
        )
    from ragdrop.cache.redis_cache import RedisCache

    options: dict[str, Any] = {
        name: value
        for name, value in (
            ("ttl", ttl),
            ("max_entry_bytes", max_entry_bytes),
            ("timeout_ms", timeout_ms),
        )
        if value is not None
    }
    return RedisCache(location, namespace=namespace, registry=registry, **options)


def cache_location(cache_dir: str | Path | None, cache_url: SecretStr | None) -> str | Path | None:
    """Where a component's cache lives: the Redis URL, the folder, or None (no cache).

    Raises ValueError when both are given (one cache, one place).
    """
    if cache_url is None:
        return cache_dir
    if cache_dir is not None:
        raise ValueError("pass cache_dir or cache_url, not both: a cache lives in one place")
    return cache_url.get_secret_value()


def _safe_cache(
    folder: Path,
    namespace: str,
    size_limit: int | None,
    eviction_policy: str | None,
    registry: Any,
) -> CacheBackend:
    options: dict[str, Any] = {}
    if size_limit is not None:
        options["size_limit"] = size_limit
    if eviction_policy is not None:
        options["eviction_policy"] = eviction_policy
    return SafeCache(folder, namespace=namespace, registry=registry, **options)


__all__ = [
    "REDIS_SCHEMES",
    "CacheBackend",
    "cache_location",
    "check_cache_url",
    "open_cache",
    "redact_url",
    "redacted_secret_url",
    "url_secret",
]
