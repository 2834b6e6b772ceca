"""A Redis-backed cache with `SafeCache`'s interface, shared by every process that uses it.

Keys are ``ragdrop:v1:<namespace>:<key>``; values are bytes behind a header (magic, format
version, CRC-32), JSON as UTF-8 bytes: nothing read back is unpickled, and a value of another
format version, of a foreign type or garbage is a counted miss. Entries carry a TTL and a size
cap; Redis's own eviction is just a miss. Epoch tokens are random and never expire.

Redis unreachable or slow (millisecond timeouts): a read is a counted miss, a write a counted
skipped write, never an exception, except `bump_token` (as `SafeCache.bump_token`). After a
failure the cache is degraded (``healthy``, ``degraded_reason``) and tries Redis again once
per ``retry_interval``, so a dead Redis costs one failure per interval, not a timeout per
call; the first success makes it healthy again.

The URL's password stays in memory (a copy must reconnect; ``__getstate__`` wraps it in a
``pydantic.SecretStr``) and never appears in repr, ``url``, errors, logs or metrics.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry

from ragdrop.cache.backend import REDIS_SCHEMES, redact_url, url_secret
from ragdrop.cache.safe_cache import _NAMESPACE_RE, CacheStats, count_event
from ragdrop.observability.metrics import cache_events_counter

FORMAT_VERSION = 1
KEY_PREFIX = f"ragdrop:v{FORMAT_VERSION}:"
_MAGIC = b"RDR"
_HEADER = struct.Struct("<3sBI")  # magic, format version, CRC-32 of the payload
_TOKEN_RE = re.compile(rb"^[0-9a-f]{32}$")
_SCAN_BATCH = 500
_SETTINGS = ("namespace", "ttl", "max_entry_bytes", "timeout_ms", "retry_interval", "ssl_ca_certs")
_URL_FORMS = "use redis://[[user]:password@]host[:port][/db] or rediss://... (TLS)"
logger = logging.getLogger(__name__)
T = TypeVar("T")
_FOREIGN: Any = object()  # the key holds a Redis type other than a string


def seal(payload: bytes) -> bytes:
    """``payload`` behind the header of this format version."""
    return _HEADER.pack(_MAGIC, FORMAT_VERSION, zlib.crc32(payload)) + payload


def unseal(raw: bytes) -> bytes | None:
    """The payload of a `seal`ed value; None for another version, a bad checksum or garbage."""
    if len(raw) < _HEADER.size:
        return None
    magic, version, crc = _HEADER.unpack_from(raw)
    payload = raw[_HEADER.size :]
    if magic != _MAGIC or version != FORMAT_VERSION or crc != zlib.crc32(payload):
        return None
    return payload


@dataclass
class RedisCacheStats(CacheStats):
    """`CacheStats` plus what only a networked cache has (this instance only)."""

    errors: int = 0  # Redis calls that failed (unreachable, timed out, refused)
    skipped_writes: int = 0  # writes not made (Redis failed, or the value was too large)
    too_large: int = 0  # values over ``max_entry_bytes``, never stored


def _positive(name: str, value: object, unit: str, *, optional: bool = False) -> None:
    if (value is None and optional) or (type(value) in (int, float) and value > 0):  # type: ignore[operator]
        return
    allowed = "None or a positive" if optional else "a positive"
    raise ValueError(f"{name}={value!r} must be {allowed} number of {unit}")


def _get_string(r: redis.Redis, name: str) -> object:
    """GET ``name``; `_FOREIGN` when the key holds a list, hash, ... (GET refuses those)."""
    try:
        return r.get(name)
    except redis.ResponseError:
        if r.type(name) not in (b"string", b"none"):
            return _FOREIGN
        raise


class RedisCache:
    """A cache of bytes and JSON values in Redis with `SafeCache`'s interface; never unpickles.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS).
        namespace: part of every key, so roles (queries, embeddings) do not collide.
        ttl: seconds an entry lives when a write gives no ``expire`` (None: until Redis
            evicts it; epoch tokens never expire).
        max_entry_bytes: a larger value is not stored (counted in ``stats.too_large``).
        timeout_ms: socket connect and read timeout of every Redis call, in milliseconds.
        retry_interval: seconds between attempts to reach Redis while it is failing.
        ssl_ca_certs: CA bundle that signed the server's certificate (``rediss://``).
        registry: a prometheus ``CollectorRegistry`` to count events in (None: no metrics).

    Example:
        >>> cache = RedisCache("redis://127.0.0.1:6379/0", namespace="rerank", timeout_ms=20)
        >>> cache.healthy  # nothing was tried yet: no network call in the constructor
        True
        >>> cache.set_bytes("k", b"v"); cache.get_bytes("k")  # doctest: +SKIP
        b'v'
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        ttl: float | None = 86400.0,
        max_entry_bytes: int = 8 * 2**20,
        timeout_ms: float = 50.0,
        retry_interval: float = 1.0,
        ssl_ca_certs: str | None = None,
        registry: Any = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        safe_url = redact_url(url)
        if url.partition("://")[0].lower() not in REDIS_SCHEMES or "://" not in url:
            raise ValueError(f"url={safe_url!r} is not a Redis URL; {_URL_FORMS}")
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise ValueError(
                f"namespace={namespace!r} is not allowed; use 1-64 characters of "
                "letters, digits, '_', '.', '-', starting with a letter or digit"
            )
        _positive("ttl", ttl, "seconds", optional=True)
        _positive("timeout_ms", timeout_ms, "milliseconds")
        _positive("retry_interval", retry_interval, "seconds")
        if type(max_entry_bytes) is not int or max_entry_bytes <= 0:
            raise ValueError(f"max_entry_bytes={max_entry_bytes!r} must be a positive int")
        options = {} if ssl_ca_certs is None else {"ssl_ca_certs": ssl_ca_certs}
        try:
            # Parses the URL and builds a connection pool; connects on the first command.
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout_ms / 1000,
                socket_connect_timeout=timeout_ms / 1000,
                # No retries: a failure is a miss, and the back-off below decides when to
                # try again (redis-py's default retries would multiply every timeout).
                retry=Retry(NoBackoff(), 0),
                **options,
            )
        except (ValueError, TypeError) as exc:
            why = self._scrub(str(exc), url)
            raise ValueError(f"url={safe_url!r} cannot be used ({why}); {_URL_FORMS}") from None
        self._secret_url = SecretStr(url)
        self.url = safe_url
        self.namespace = namespace
        self.ttl = None if ttl is None else float(ttl)
        self.max_entry_bytes = max_entry_bytes
        self.timeout_ms = float(timeout_ms)
        self.retry_interval = float(retry_interval)
        self.ssl_ca_certs = ssl_ca_certs
        self.stats = RedisCacheStats()
        self._prefix = f"{KEY_PREFIX}{namespace}:"
        self._client = client
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._retry_at = 0.0
        self._metrics = cache_events_counter(registry) if registry is not None else None

    # -- health: one failure per interval while Redis is down, healthy on the first success ---
    @property
    def healthy(self) -> bool:
        """False after a failed Redis call, until a later one succeeds."""
        return self._reason is None

    @property
    def degraded_reason(self) -> str | None:
        """Why the cache is degraded (the last failure, without the password), or None."""
        return self._reason

    def ping(self) -> bool:
        """Ask Redis now (unless within the back-off interval); True if it answered."""
        return bool(self._call(lambda r: r.ping(), False, "ping"))

    def _may_try(self) -> bool:
        with self._lock:
            if self._reason is None:
                return True
            if time.monotonic() < self._retry_at:
                return False
            # This caller probes; the others keep failing fast until it is done.
            self._retry_at = time.monotonic() + self.retry_interval
            return True

    def _failed(self, what: str, exc: redis.RedisError) -> None:
        self._count("errors")
        reason = (
            f"redis at {self.url}: {what} failed ({type(exc).__name__}: {self._scrub(str(exc))})"
        )
        with self._lock:
            was_healthy = self._reason is None
            self._reason = reason
            self._retry_at = time.monotonic() + self.retry_interval
        if was_healthy:
            logger.warning("cache %s degraded: %s", self.namespace, reason)

    def _succeeded(self) -> None:
        with self._lock:
            recovered, self._reason = self._reason is not None, None
        if recovered:
            logger.info("cache %s: redis at %s answers again", self.namespace, self.url)

    def _scrub(self, text: str, url: str | None = None) -> str:
        """``text`` without the URL's password (a dependency's message might echo it)."""
        secret = url_secret(url if url is not None else self._secret_url.get_secret_value())
        return text.replace(secret, "***") if secret else text

    def _call(self, op: Callable[[redis.Redis], T], fallback: T, what: str) -> T:
        """``op`` on the client; a failure is counted and answered ``fallback``. Connection
        failures and timeouts degrade the cache; an error Redis answers (out of memory) does not.
        """
        if not self._may_try():
            self._count("errors")
            return fallback
        try:
            result = op(self._client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._failed(what, exc)
            return fallback
        except redis.RedisError as exc:
            self._count("errors")
            self._succeeded()
            logger.warning("cache %s: %s failed (%s)", self.namespace, what, self._scrub(str(exc)))
            return fallback
        self._succeeded()
        return result

    # -- counters -------------------------------------------------------------------------
    def _count(self, event: str, n: int = 1) -> None:
        count_event(self.stats, self._lock, self._metrics, self.namespace, event, n)

    # -- keys and values ------------------------------------------------------------------
    def _key(self, key: str) -> str:
        if type(key) is not str:
            raise TypeError(f"RedisCache keys must be str, got {type(key).__name__}")
        return self._prefix + key

    def _expire_ms(self, expire: float | None) -> int | None:
        _positive("expire", expire, "seconds", optional=True)
        seconds = self.ttl if expire is None else expire
        return None if seconds is None else max(1, round(seconds * 1000))

    def _sealed(self, key: str, value: object) -> bytes | None:
        """The stored form of ``value``, or None (counted) when it is over the size cap."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"value for {key!r} must be bytes, got {type(value).__name__}")
        data = bytes(value)
        if len(data) + _HEADER.size > self.max_entry_bytes:
            self._count("too_large")
            self._count("skipped_writes")
            return None
        return seal(data)

    def _reject(self, key: str) -> None:
        """A foreign, damaged or other-version entry: counted and evicted."""
        self._count("rejected")
        if self._call(lambda r: r.delete(self._key(key)), 0, "delete"):
            self._count("evictions")

    # -- public API -----------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None (missing, expired, foreign or unreachable)."""
        name = self._key(key)
        raw = self._call(lambda r: _get_string(r, name), None, "read")
        if raw is None:
            self._count("misses")
            return None
        payload = unseal(raw) if type(raw) is bytes else None
        if payload is None:
            self._reject(key)
            self._count("misses")
            return None
        self._count("hits")
        return payload

    def set_bytes(self, key: str, value: bytes, expire: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``expire`` seconds (None: the cache's ``ttl``)."""
        self.set_many_bytes([(key, value)], expire)

    def set_many_bytes(self, items: list[tuple[str, bytes]], expire: float | None = None) -> None:
        """Store several (key, bytes) pairs in one round trip. A value over ``max_entry_bytes``
        is not stored and its key is deleted, so an older value cannot be read in its place."""
        px = self._expire_ms(expire)
        prepared = [(self._key(key), self._sealed(key, value)) for key, value in items]
        if not prepared:
            return

        def write(r: redis.Redis) -> bool:
            pipe = r.pipeline(transaction=False)
            for name, sealed in prepared:
                if sealed is None:
                    pipe.delete(name)
                else:
                    pipe.set(name, sealed, px=px)
            pipe.execute()
            return True

        if not self._call(write, False, "write"):
            self._count("skipped_writes", sum(sealed is not None for _, sealed in prepared))

    def get_json(self, key: str) -> Any | None:
        """The JSON value stored under ``key``, or None (missing, expired or unreadable)."""
        raw = self.get_bytes(key)
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._reject(key)
            return None

    def set_json(self, key: str, value: Any, expire: float | None = None) -> None:
        """Store ``value`` as UTF-8 JSON bytes (raises TypeError if not JSON-serialisable)."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.set_bytes(key, data.encode("utf-8"), expire)

    def get_token(self, key: str) -> str:
        """A random token stored under ``key``, created atomically if absent (epochs).

        Tokens have no TTL, yet Redis may still evict one or `clear` remove it: the new one is
        random, so it never equals an earlier epoch and results cached under that one are
        never served again. When Redis cannot answer, a fresh token is returned that nothing
        was cached under (every lookup under it misses).
        """
        name = self._key(key)
        fresh = uuid.uuid4().hex

        def read_or_create(r: redis.Redis) -> tuple[object, bool]:
            value = _get_string(r, name)
            if type(value) is bytes and _TOKEN_RE.match(value):
                return value, True
            if value is not None:
                # Garbage under the epoch key: replacing it starts a new epoch, which only
                # forgets (SET NX could never replace it).
                self._count("rejected")
                r.set(name, fresh)
                return fresh.encode(), False
            pipe = r.pipeline(transaction=True)
            pipe.set(name, fresh, nx=True)
            pipe.get(name)
            return pipe.execute()[1], False

        unread: tuple[object, bool] = (None, False)
        value, existed = self._call(read_or_create, unread, "token")
        if type(value) is bytes and _TOKEN_RE.match(value):
            self._count("hits" if existed else "misses")
            return value.decode()
        self._count("misses")
        return fresh

    def bump_token(self, key: str) -> str:
        """Replace the token under ``key`` with a fresh random one and return it.

        Raises RuntimeError when Redis cannot record it (results cached under the old token
        would otherwise stay servable). Tried even while degraded: a write must not be lost
        to the back-off.
        """
        name = self._key(key)
        token = uuid.uuid4().hex
        with self._lock:
            self._retry_at = 0.0  # let this call through the back-off
        if not self._call(lambda r: bool(r.set(name, token)), False, "epoch write"):
            raise RuntimeError(
                f"cache {self.namespace!r} could not record a write in redis at {self.url} "
                f"({self._reason or 'see the log'}); cached query results may be stale until "
                "Redis answers and the collection is written again, or the cache is cleared"
            )
        return token

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was present."""
        name = self._key(key)
        return bool(self._call(lambda r: r.delete(name), 0, "delete"))

    def _names(self, r: redis.Redis) -> list[bytes]:
        pattern = self._prefix.replace("\\", "\\\\").replace("*", "\\*") + "*"
        return list(r.scan_iter(match=pattern, count=_SCAN_BATCH))

    def clear(self) -> int:
        """Remove every entry of this namespace (epoch tokens too); returns how many."""

        def remove(r: redis.Redis) -> int:
            names = self._names(r)
            return sum(
                int(r.unlink(*names[i : i + _SCAN_BATCH]))
                for i in range(0, len(names), _SCAN_BATCH)
            )

        return int(self._call(remove, 0, "clear"))

    def __len__(self) -> int:
        """Entries of this namespace (a SCAN of the database: for tests and tools)."""
        return int(self._call(lambda r: len(self._names(r)), 0, "count"))

    def close(self) -> None:
        """Close the connections (a later call opens new ones)."""
        self._client.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCache(url={self.url!r}, namespace={self.namespace!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A copy connects anew and needs the password: inside a SecretStr, which prints as
        # '**********' (pickled state holds it: treat it like the URL).
        return {"url": self._secret_url, **{name: getattr(self, name) for name in _SETTINGS}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        settings = dict(state)
        self.__init__(settings.pop("url").get_secret_value(), **settings)  # type: ignore[misc]


__all__ = [
    "FORMAT_VERSION",
    "KEY_PREFIX",
    "RedisCache",
    "RedisCacheStats",
    "seal",
    "unseal",
]
