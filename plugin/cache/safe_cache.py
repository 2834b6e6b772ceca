"""A diskcache-backed key-value store that holds only bytes and JSON and never unpickles.

diskcache pickles any value that is not bytes/str/int/float and unpickles ``MODE_PICKLE``
rows on read, whoever wrote them. ``SafeCache`` plugs in a ``diskcache.Disk`` that refuses
to store or read pickles: an entry that is not plain data (tampered, or written by another
program) is a miss, is evicted and is counted as ``rejected``. Every bytes value carries a
length and a CRC-32 (`cache_db.seal`), so a damaged row is a counted miss too; a database
SQLite cannot read (garbage, truncated, a directory in its place) is moved aside and a
fresh one started, at open or at any later call: the cache forgets, it never raises.

Example:
    >>> cache = SafeCache("/tmp/ragdrop-cache", namespace="embeddings")  # doctest: +SKIP
    >>> cache.set_json("answer", {"ids": ["a"]})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import DEFAULT_SETTINGS

from ragdrop.cache import cache_db
from ragdrop.cache.cache_db import RejectedEntry, SafeDisk
from ragdrop.cache.token_stamp import TokenStamp
from ragdrop.core.files import private_dir
from ragdrop.observability.metrics import cache_events_counter
from ragdrop.observability.stages import record_count

EVICTION_POLICIES = (
    "least-recently-stored",
    "least-recently-used",
    "least-frequently-used",
    "none",
)
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Checking the volume after every write costs two tiny SQL statements; a full cull pass
# (which also drops expired rows) runs every this many writes.
_CULL_EVERY = 64
_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
logger = logging.getLogger(__name__)
T = TypeVar("T")
_REJECTED = object()


def _token(value: Any) -> str | None:
    return value if type(value) is str and _TOKEN_RE.match(value) else None


@dataclass
class CacheStats:
    """Counters of one `SafeCache` instance (this process only)."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0
    evictions: int = 0
    repairs: int = 0


def count_event(
    stats: CacheStats, lock: threading.Lock, metrics: Any, namespace: str, event: str, n: int
) -> None:
    """Add ``n`` to ``stats.<event>`` (under ``lock``) and to the metrics: the cache's own
    registry's counter (``metrics``) or, without one, whoever listens (RagdropMetrics in a
    server), never both, so a shared registry does not count an event twice."""
    with lock:
        setattr(stats, event, getattr(stats, event) + n)
    if metrics is not None:
        metrics.labels(namespace=namespace, event=event).inc(n)
    else:
        record_count(f"cache_{event}", n, label=namespace)


def ensure_private_dir(path: str | Path) -> Path:
    """Create ``path`` (mode 0700) or check that only the current user can write it.

    Raises `UnsafePathError` (a ValueError and a PermissionError) naming the path and the fix
    when it is a symlink, another user owns it or group/others may write to it. The same as
    `ragdrop.core.files.private_dir`, with the message naming a cache directory.
    """
    return private_dir(path, "cache directory")


class SafeCache:
    """A size-bounded, process-safe disk cache of bytes and JSON values; never unpickles.

    Args:
        directory: cache root; created 0700, refused if others can write to it.
        namespace: sub-directory (its own SQLite file) so roles do not evict each other.
        size_limit: bytes on disk before entries are evicted.
        eviction_policy: one of ``EVICTION_POLICIES``.
        registry: a prometheus ``CollectorRegistry`` to count events in (None: no metrics).

    Example:
        >>> cache = SafeCache(tmp_dir, namespace="rerank")  # doctest: +SKIP
        >>> cache.set_bytes("k", b"v"); cache.get_bytes("k")  # doctest: +SKIP
        b'v'
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        namespace: str = "default",
        size_limit: int = 2**30,
        eviction_policy: str = "least-recently-used",
        registry: Any = None,
    ) -> None:
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise ValueError(
                f"namespace={namespace!r} is not allowed; use 1-64 characters of "
                "letters, digits, '_', '.', '-', starting with a letter or digit"
            )
        if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit <= 0:
            raise ValueError(f"size_limit={size_limit!r} must be a positive int (bytes)")
        if eviction_policy not in EVICTION_POLICIES:
            raise ValueError(
                f"eviction_policy={eviction_policy!r} is not one of {list(EVICTION_POLICIES)}"
            )
        self.root = private_dir(directory, "cache directory")
        self.directory = private_dir(self.root / namespace, "cache directory")
        self.namespace = namespace
        self.size_limit = size_limit
        self.eviction_policy = eviction_policy
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._writes = 0
        self._metrics = cache_events_counter(registry) if registry is not None else None
        # Every setting is passed explicitly so values stored in a (possibly tampered)
        # Settings table are never used; culling is ours so evictions can be counted.
        settings = dict(DEFAULT_SETTINGS)
        settings.pop("disk_pickle_protocol", None)
        settings.update(
            size_limit=size_limit,
            eviction_policy=eviction_policy,
            cull_limit=0,
            statistics=0,
            tag_index=0,
        )
        self._settings = settings
        self._open_lock = threading.Lock()
        self._cache, self._identity = self._open()
        # Tokens read, each with the stamp seen before reading it (see token_stamp).
        self._stamp = TokenStamp(self.directory)
        self._tokens: dict[str, tuple[bytes, str]] = {}

    # -- the database file: opened, checked on every call, replaced when damaged ------------
    def _open(self) -> tuple[diskcache.Cache, tuple[int, int] | None]:
        """Open the database, moving a damaged one aside first (one retry, then raise)."""
        for attempt in range(3):
            private_dir(self.directory, "cache directory")  # removed meanwhile: made again
            before = cache_db.identity(self.directory)
            reason = cache_db.damage_before_open(self.directory)
            if reason is None:
                try:
                    cache_db.scrub_settings(self.directory)
                    cache = diskcache.Cache(str(self.directory), disk=SafeDisk, **self._settings)
                    return cache, cache_db.identity(self.directory)
                except sqlite3.DatabaseError as exc:
                    if not cache_db.is_damage(exc) or attempt == 2:
                        raise ValueError(
                            f"cache database {str(cache_db.db_path(self.directory))!r} cannot be "
                            f"opened ({exc}); free disk space or delete the directory "
                            f"{str(self.directory)!r} to start an empty cache"
                        ) from exc
                    reason = str(exc)
            self._replace(before, reason)
        raise ValueError(f"cache directory {str(self.directory)!r} keeps changing while opened")

    def _replace(self, bad: tuple[int, int] | None, reason: str) -> None:
        """Move the damaged database ``bad`` aside unless another process already did."""
        if cache_db.identity(self.directory) != bad:
            return  # replaced meanwhile (by another process): open what is there now
        try:
            aside = cache_db.move_aside(self.directory)
        except OSError as exc:
            raise ValueError(
                f"cache database in {str(self.directory)!r} is damaged ({reason}) and could "
                f"not be moved aside ({exc}); delete that directory to start an empty cache"
            ) from exc
        self._count("repairs")
        self._count("rejected")
        logger.warning(
            "cache %s: database was unusable (%s); moved to %s, starting an empty cache",
            self.namespace,
            reason,
            aside.name,
        )

    def _db(self) -> diskcache.Cache:
        """The open cache, reopened when its file was replaced (by a repair elsewhere)."""
        if cache_db.identity(self.directory) != self._identity:
            with self._open_lock:
                if cache_db.identity(self.directory) != self._identity:
                    old = self._cache
                    self._cache, self._identity = self._open()
                    old.close()
        return self._cache

    def _repair(self, exc: sqlite3.DatabaseError) -> None:
        """After ``exc`` from the open database: start a fresh one if the file is damaged."""
        with self._open_lock:
            bad = self._identity
            old = self._cache
            self._replace(bad, str(exc))
            self._cache, self._identity = self._open()
            old.close()

    def _call(self, op: Callable[[diskcache.Cache], T], fallback: T, what: str) -> T:
        """``op`` on the database; a damaged file is replaced and ``op`` retried once.

        Anything else SQLite or the disk refuses (busy, full, read-only) is logged and
        answered with ``fallback``: a cache that cannot answer is a miss, not an error.
        """
        for attempt in range(2):
            try:
                return op(self._db())
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and cache_db.is_damage(exc):
                    try:
                        self._repair(exc)
                    except ValueError as failed:
                        logger.warning("cache %s: %s", self.namespace, failed)
                        return fallback
                    continue
                logger.warning("cache %s: %s failed (%s)", self.namespace, what, exc)
            except (OSError, ValueError, diskcache.Timeout) as exc:
                # ValueError: the file was replaced and the new one cannot be opened either.
                logger.warning("cache %s: %s failed (%s)", self.namespace, what, exc)
            return fallback
        return fallback

    # -- counters -------------------------------------------------------------------------
    def _count(self, event: str, n: int = 1) -> None:
        count_event(self.stats, self._lock, self._metrics, self.namespace, event, n)

    # -- raw access -----------------------------------------------------------------------
    def _get(self, key: str, accept: Callable[[Any], Any]) -> Any:
        """The entry under ``key`` as ``accept`` reads it; None (a counted miss) when absent,
        and rejected (counted, evicted) when foreign or damaged (``accept`` returns None)."""

        def read(db: diskcache.Cache) -> Any:
            try:
                return db.get(key, default=None, retry=True)
            except RejectedEntry:
                return _REJECTED

        value = self._call(read, None, "read")
        if value is None:
            self._count("misses")
            return None
        accepted = None if value is _REJECTED else accept(value)
        if accepted is None:
            self._reject(key)
            return None
        self._count("hits")
        return accepted

    def _reject(self, key: str) -> None:
        """A damaged or foreign entry: counted, evicted, and a miss."""
        self._count("rejected")
        self._evict(key)
        self._count("misses")

    def _evict(self, key: str) -> None:
        if self._call(lambda db: db.delete(key, retry=True), False, "delete"):
            self._count("evictions")

    def _after_write(self) -> None:
        with self._lock:
            self._writes += 1
            full_pass = self._writes % _CULL_EVERY == 0
        if self.eviction_policy == "none" and not full_pass:
            return

        def cull(db: diskcache.Cache) -> int:
            if full_pass or db.volume() > self.size_limit:
                return int(db.cull(retry=True))
            return 0

        removed = self._call(cull, 0, "cull")
        if removed:
            self._count("evictions", removed)

    @staticmethod
    def _check_expire(expire: float | None) -> None:
        if expire is not None and (
            isinstance(expire, bool) or not isinstance(expire, int | float) or expire <= 0
        ):
            raise ValueError(f"expire={expire!r} must be None or a positive number of seconds")

    def _set(self, key: str, value: bytes | str | int, expire: float | None) -> None:
        self._check_expire(expire)
        self._call(lambda db: db.set(key, value, expire=expire, retry=True), False, "write")
        self._after_write()

    # -- public API -----------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None (missing, expired, damaged or not bytes)."""
        # Not bytes, or bytes whose header, length or checksum is wrong (a damaged row, or a
        # row of the unsealed format before version 2): never returned.
        return self._get(key, lambda v: cache_db.unseal(v) if type(v) is bytes else None)

    def set_bytes(self, key: str, value: bytes, expire: float | None = None) -> None:
        """Store ``value`` (bytes) under ``key`` for ``expire`` seconds (None: no expiry)."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        self._set(key, cache_db.seal(bytes(value)), expire)

    def set_many_bytes(self, items: list[tuple[str, bytes]], expire: float | None = None) -> None:
        """Store several (key, bytes) pairs in one transaction (one disk sync)."""
        self._check_expire(expire)
        for key, value in items:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise TypeError(f"value for {key!r} must be bytes, got {type(value).__name__}")
        if not items:
            return
        sealed = [(key, cache_db.seal(bytes(value))) for key, value in items]

        def write(db: diskcache.Cache) -> bool:
            with db.transact(retry=True):
                for key, value in sealed:
                    db.set(key, value, expire=expire, retry=True)
            return True

        self._call(write, False, "write")
        self._after_write()

    def get_json(self, key: str) -> Any | None:
        """The JSON value stored under ``key``, or None (missing, expired or unreadable)."""
        raw = self.get_bytes(key)
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._count("rejected")
            self._evict(key)
            return None

    def set_json(self, key: str, value: Any, expire: float | None = None) -> None:
        """Store ``value`` as UTF-8 JSON bytes (raises TypeError if not JSON-serialisable)."""
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.set_bytes(key, data.encode("utf-8"), expire)

    def get_token(self, key: str) -> str:
        """A random token stored under ``key``, created atomically if absent (epochs).

        Tokens never repeat, so an evicted epoch cannot come back with an old value and
        resurrect results cached under it. When the database cannot store one, a fresh token
        is returned that nothing was cached under (every lookup under it misses).
        While no token was written since this instance last read ``key`` (the shared
        `TokenStamp` is unchanged), the token read then is returned without a query.
        """
        stamp = self._stamp.read()
        kept = self._tokens.get(key) if stamp is not None else None
        if kept is not None and kept[0] == stamp:
            return kept[1]
        token = self._read_token(key)
        if stamp is not None:
            self._tokens[key] = (stamp, token)
        return token

    def _read_token(self, key: str) -> str:
        value = self._get(key, _token)
        if value is not None:
            return str(value)

        def create(db: diskcache.Cache) -> Any:
            db.add(key, uuid.uuid4().hex, retry=True)
            return db.get(key, default=None, retry=True)

        current = _token(self._call(create, None, "write"))
        return current if current is not None else uuid.uuid4().hex

    def bump_token(self, key: str) -> str:
        """Replace the token under ``key`` with a fresh random one and return it.

        Raises RuntimeError when the token cannot be written (results cached under the old
        one would otherwise stay servable): a damaged database is replaced instead, which
        forgets every result.
        """
        token = uuid.uuid4().hex
        written = self._call(lambda db: db.set(key, token, retry=True), False, "write")
        self._stamp.touch()  # after the write: a reader seeing the new stamp reads the token
        if not written:
            raise RuntimeError(
                f"cache at {self.directory} could not record a write (see the log); free disk "
                f"space or delete {self.directory}, or cached query results may be stale"
            )
        self._after_write()
        return token

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was present."""
        removed = bool(self._call(lambda db: db.delete(key, retry=True), False, "delete"))
        self._stamp.touch()  # it may have been a token
        return removed

    def clear(self) -> int:
        """Remove every entry of this namespace; returns how many."""
        removed = int(self._call(lambda db: db.clear(retry=True), 0, "clear"))
        self._stamp.touch()  # tokens included
        return removed

    def __len__(self) -> int:
        return int(self._call(len, 0, "count"))

    def volume(self) -> int:
        """Estimated bytes on disk."""
        return int(self._call(lambda db: db.volume(), 0, "volume"))

    def close(self) -> None:
        """Close the SQLite connection of this thread."""
        self._cache.close()

    def __enter__(self) -> SafeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Re-open in a new process instead of pickling a SQLite connection.
        return {
            "directory": str(self.root),
            "namespace": self.namespace,
            "size_limit": self.size_limit,
            "eviction_policy": self.eviction_policy,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["directory"],
            namespace=state["namespace"],
            size_limit=state["size_limit"],
            eviction_policy=state["eviction_policy"],
        )


__all__ = [
    "EVICTION_POLICIES",
    "CacheStats",
    "SafeCache",
    "SafeDisk",
    "ensure_private_dir",
]
