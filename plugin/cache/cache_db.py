"""The SQLite file under a `SafeCache`: sealed values, damage detection and moving a bad file aside.

A cache may always forget: a damaged row or database is a miss, never an error or a wrong
value. Values carry a header (magic, length, CRC-32) so a flipped bit inside a row is caught;
a database SQLite cannot read is moved aside (``cache.db.corrupt``) and a fresh one started.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import struct
import zlib
from pathlib import Path

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

# Version 2 of the value format (version 1 had no header): rows of version 1 are misses.
VALUE_MAGIC = b"RDC\x02"
_HEADER = struct.Struct("<4sQI")
SIDE_FILES = ("-wal", "-shm", "-journal")
ASIDE_SUFFIX = ".corrupt"
# Errors that say nothing about the file (another writer, a full disk, a read-only mount):
# the database is kept and the operation is a miss.
_TRANSIENT = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_INTERRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_AUTH,
}


class RejectedEntry(Exception):
    """An entry in the cache directory that is not plain bytes/str/int (never unpickled)."""


_REJECTED = object()


class SafeDisk(diskcache.Disk):
    """A ``diskcache.Disk`` that stores bytes, str and int only and never unpickles."""

    def put(self, key: object) -> tuple[object, bool]:
        if type(key) is not str:
            raise TypeError(f"SafeCache keys must be str, got {type(key).__name__}")
        return super().put(key)

    def get(self, key: object, raw: bool) -> object:
        if not raw:
            raise RejectedEntry("pickled key")
        return super().get(key, raw)

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> object:
        if read or type(value) not in (bytes, str, int):
            raise TypeError(f"SafeCache stores bytes, str or int only, got {type(value).__name__}")
        return super().store(value, read, key=key)

    def _inside(self, filename: object) -> bool:
        if not isinstance(filename, str):
            return False
        root = os.path.realpath(self._directory)
        full = os.path.realpath(os.path.join(root, filename))
        return full.startswith(root + os.sep)

    def fetch(self, mode: int, filename: object, value: object, read: bool) -> object:
        if read or mode not in (MODE_RAW, MODE_BINARY, MODE_TEXT):
            raise RejectedEntry(f"entry mode {mode!r}")
        if mode != MODE_RAW and not self._inside(filename):
            raise RejectedEntry("value file outside the cache directory")
        try:
            result = super().fetch(mode, filename, value, read)
        except (UnicodeDecodeError, ValueError, TypeError) as exc:
            raise RejectedEntry(f"unreadable value ({type(exc).__name__})") from exc
        if type(result) not in (bytes, str, int):
            raise RejectedEntry(f"value of type {type(result).__name__}")
        return result

    def remove(self, file_path: object) -> None:
        # A tampered row could name any file; only ever delete inside the directory.
        if self._inside(file_path):
            super().remove(file_path)


def seal(data: bytes) -> bytes:
    """``data`` behind a header of magic, length and CRC-32."""
    return _HEADER.pack(VALUE_MAGIC, len(data), zlib.crc32(data)) + data


def unseal(raw: bytes) -> bytes | None:
    """The payload of a `seal`ed value, or None if the header, length or checksum is wrong."""
    if len(raw) < _HEADER.size:
        return None
    magic, length, crc = _HEADER.unpack_from(raw)
    payload = raw[_HEADER.size :]
    if magic != VALUE_MAGIC or length != len(payload) or crc != zlib.crc32(payload):
        return None
    return payload


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says the database file itself is unusable (corrupt, not a database...)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return not isinstance(exc, sqlite3.OperationalError)
    return (code & 0xFF) not in _TRANSIENT


def db_path(directory: Path) -> Path:
    return directory / DBNAME


def identity(directory: Path) -> tuple[int, int] | None:
    """(device, inode) of the database file, or None when there is none."""
    try:
        info = os.lstat(db_path(directory))
    except OSError:
        return None
    return info.st_dev, info.st_ino


def damage_before_open(directory: Path, name: str = DBNAME) -> str | None:
    """Why the SQLite file ``name`` in ``directory`` cannot be opened safely, or None (also
    None when absent)."""
    path = directory / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_size == 0 and any(Path(f"{path}{s}").exists() for s in SIDE_FILES):
        # SQLite waits on the stale shared-memory file of a 0-byte database forever.
        return "it is empty but has journal files of an older database"
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def move_aside(directory: Path, name: str = DBNAME) -> Path:
    """Rename the SQLite file ``name`` (and its journal files) to ``<name>.corrupt*``; returns
    that path. A symlink is moved, never followed.

    The previous ``<name>.corrupt*`` files are removed first, so at most one bad copy is kept
    for inspection.
    """
    path = directory / name
    aside = directory / (name + ASIDE_SUFFIX)
    for suffix in ("", *SIDE_FILES):
        old = Path(f"{aside}{suffix}")
        if old.exists() or old.is_symlink():
            _remove(old)
    for suffix in ("", *SIDE_FILES):
        current = Path(f"{path}{suffix}")
        if current.exists() or current.is_symlink():
            os.rename(current, f"{aside}{suffix}")
    return aside


def scrub_settings(directory: Path) -> None:
    """Drop Settings rows diskcache does not define: it would ``setattr`` them on the Cache.

    Raises sqlite3.DatabaseError when the file is not a readable database.
    """
    path = db_path(directory)
    if not path.exists():
        return
    known = sorted(set(DEFAULT_SETTINGS) | set(METADATA))
    marks = ",".join("?" * len(known))
    con = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    try:
        tables = con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'Settings'"
        ).fetchall()
        if tables:
            con.execute(f"DELETE FROM Settings WHERE key NOT IN ({marks})", known)
    finally:
        con.close()


__all__ = [
    "RejectedEntry",
    "SafeDisk",
    "VALUE_MAGIC",
    "damage_before_open",
    "db_path",
    "identity",
    "is_damage",
    "move_aside",
    "scrub_settings",
    "seal",
    "unseal",
]
