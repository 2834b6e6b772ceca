"""A diskcache-backed key-value store that holds only bytes and JSON and never unpickles.

diskcache pickles any value that is not bytes/str/int/float and unpickles ``MODE_PICKLE``
rows on read, whoever wrote them. ``SafeCache`` plugs in a ``diskcache.Disk`` that refuses
to store or read pickles: an entry that is not plain data (tampered, or written by another
program) is a miss, is evicted and is counted as ``rejected``.

Example:
    >>> cache = SafeCache("/tmp/ragdrop-cache", namespace="embeddings")  # doctest: +SKIP
    >>> cache.set_json("answer", {"ids": ["a"]})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import (
    DBNAME,
    DEFAULT_SETTINGS,
    METADATA,
    MODE_BINARY,
    MODE_RAW,
    MODE_TEXT,
    UNKNOWN,
)

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
_EVENTS = ("hits", "misses", "rejected", "evictions")


class _RejectedEntry(Exception):
    """An entry in the cache directory that is not plain bytes/str/int (never unpickled)."""


class SafeDisk(diskcache.Disk):
    """A ``diskcache.Disk`` that stores bytes, str and int only and never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"SafeCache keys must be str, got {type(key).__name__}")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise _RejectedEntry("pickled key")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> Any:
        if read or type(value) not in (bytes, str, int):
            raise TypeError(f"SafeCache stores bytes, str or int only, got {type(value).__name__}")
        return super().store(value, read, key=key)

    def _inside(self, filename: Any) -> bool:
        if not isinstance(filename, str):
            return False
        root = os.path.realpath(self._directory)
        full = os.path.realpath(os.path.join(root, filename))
        return full.startswith(root + os.sep)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if read or mode not in (MODE_RAW, MODE_BINARY, MODE_TEXT):
            raise _RejectedEntry(f"entry mode {mode!r}")
        if mode != MODE_RAW and not self._inside(filename):
            raise _RejectedEntry("value file outside the cache directory")
        result = super().fetch(mode, filename, value, read)
        if type(result) not in (bytes, str, int):
            raise _RejectedEntry(f"value of type {type(result).__name__}")
        return result

    def remove(self, file_path: Any) -> None:
        # A tampered row could name any file; only ever delete inside the directory.
        if self._inside(file_path):
            super().remove(file_path)


@dataclass
class CacheStats:
    """Counters of one `SafeCache` instance (this process only)."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0
    evictions: int = 0


def ensure_private_dir(path: str | Path) -> Path:
    """Create ``path`` (mode 0700) or check that only the current user can write it.

    Raises `UnsafePathError` (a ValueError and a PermissionError) naming the path and the fix
    when it is a symlink, another user owns it or group/others may write to it. The same as
    `ragdrop.core.files.private_dir`, with the message naming a cache directory.
    """
    return private_dir(path, "cache directory")


def _scrub_settings(directory: Path) -> None:
    """Drop Settings rows diskcache does not define: it would ``setattr`` them on the Cache."""
    path = directory / DBNAME
    if not path.exists():
        return
    known = sorted(set(DEFAULT_SETTINGS) | set(METADATA))
    marks = ",".join("?" * len(known))
    try:
        con = sqlite3.connect(str(path), timeout=60, isolation_level=None)
        try:
            tables = con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'Settings'"
            ).fetchall()
            if tables:
                con.execute(f"DELETE FROM Settings WHERE key NOT IN ({marks})", known)
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(
            f"cache file {str(path)!r} is not a readable diskcache database ({exc}); "
            f"delete the directory {str(directory)!r} to start an empty cache"
        ) from exc


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
        _scrub_settings(self.directory)
        self._cache = diskcache.Cache(str(self.directory), disk=SafeDisk, **settings)

    # -- counters -------------------------------------------------------------------------
    def _count(self, event: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, event, getattr(self.stats, event) + n)
        if self._metrics is not None:
            self._metrics.labels(namespace=self.namespace, event=event).inc(n)
        else:
            # No registry of its own: report to whoever listens (RagdropMetrics in a server),
            # never both, so a shared registry does not count an event twice.
            record_count(f"cache_{event}", n, label=self.namespace)

    # -- raw access -----------------------------------------------------------------------
    def _get(self, key: str) -> Any:
        try:
            value = self._cache.get(key, default=None, retry=True)
        except _RejectedEntry:
            self._count("rejected")
            self._evict(key)
            self._count("misses")
            return None
        self._count("misses" if value is None else "hits")
        return value

    def _evict(self, key: str) -> None:
        if self._cache.delete(key, retry=True):
            self._count("evictions")

    def _after_write(self) -> None:
        with self._lock:
            self._writes += 1
            full_pass = self._writes % _CULL_EVERY == 0
        if self.eviction_policy == "none" and not full_pass:
            return
        if full_pass or self._cache.volume() > self.size_limit:
            removed = self._cache.cull(retry=True)
            if removed:
                self._count("evictions", removed)

    def _set(self, key: str, value: bytes | str | int, expire: float | None) -> None:
        if expire is not None and (not isinstance(expire, int | float) or expire <= 0):
            raise ValueError(f"expire={expire!r} must be None or a positive number of seconds")
        self._cache.set(key, value, expire=expire, retry=True)
        self._after_write()

    # -- public API -----------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None (missing, expired or not bytes)."""
        value = self._get(key)
        if value is None or type(value) is bytes:
            return value
        self._count("rejected")
        self._evict(key)
        return None

    def set_bytes(self, key: str, value: bytes, expire: float | None = None) -> None:
        """Store ``value`` (bytes) under ``key`` for ``expire`` seconds (None: no expiry)."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        self._set(key, bytes(value), expire)

    def set_many_bytes(self, items: list[tuple[str, bytes]], expire: float | None = None) -> None:
        """Store several (key, bytes) pairs in one transaction (one disk sync)."""
        if expire is not None and (not isinstance(expire, int | float) or expire <= 0):
            raise ValueError(f"expire={expire!r} must be None or a positive number of seconds")
        for key, value in items:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise TypeError(f"value for {key!r} must be bytes, got {type(value).__name__}")
        if not items:
            return
        with self._cache.transact(retry=True):
            for key, value in items:
                self._cache.set(key, bytes(value), expire=expire, retry=True)
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
        self._set(key, data.encode("utf-8"), expire)

    def get_token(self, key: str) -> str:
        """A random token stored under ``key``, created atomically if absent (epochs).

        Tokens never repeat, so an evicted epoch cannot come back with an old value and
        resurrect results cached under it.
        """
        value = self._get(key)
        if type(value) is str:
            return value
        if value is not None:
            self._count("rejected")
            self._evict(key)
        self._cache.add(key, uuid.uuid4().hex, retry=True)
        current = self._cache.get(key, default=None, retry=True)
        if type(current) is not str:
            raise RuntimeError(f"cache at {self.directory} lost key {key!r} while creating it")
        return current

    def bump_token(self, key: str) -> str:
        """Replace the token under ``key`` with a fresh random one and return it."""
        token = uuid.uuid4().hex
        self._cache.set(key, token, retry=True)
        self._after_write()
        return token

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if it was present."""
        return bool(self._cache.delete(key, retry=True))

    def clear(self) -> int:
        """Remove every entry of this namespace; returns how many."""
        return int(self._cache.clear(retry=True))

    def __len__(self) -> int:
        return len(self._cache)

    def volume(self) -> int:
        """Estimated bytes on disk."""
        return int(self._cache.volume())

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
