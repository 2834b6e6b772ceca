"""A shared stamp that changes whenever a cache token is written, so token reads skip SQLite.

Reading a write epoch (`SafeCache.get_token`) was a SQLite query on every cached answer.
`TokenStamp` is 8 bytes in a file beside
the database, kept open by every process that opens the cache. Every token write
(`SafeCache.bump_token`, after the new token is in the database) stores 8 fresh random bytes
there. A reader keeps the token it last read from SQLite together with the stamp it saw
*before* that read; while the stamp is unchanged no token was written since, so the kept
token is still the current one and SQLite is not asked. A read is one ``stat`` and one
``pread`` of 8 bytes (``benchmarks/cache_backends.py`` prints its p50, "diskcache read
epoch").

Why this is never stale:

* The stamp is written after the token, so a reader that sees a new stamp reads the new
  token (or a newer one: it then keeps it under the older stamp and re-reads at the next
  change, one extra SQLite read).
* A torn read (bytes of two writes) cannot equal the kept stamp unless every byte that
  changed is still the old one, which is a read from before the write.
* The stamp is random, never a counter: concurrent writers need no lock, and a mixture of
  two writers' bytes is still a change.
* The file is looked up by path on every read: a stamp file removed or replaced (another
  inode) is opened again, so nobody keeps watching a file the writers no longer write.
  A path that is not a regular file of ours (a symlink, a directory, a foreign owner) turns
  the shortcut off, and so does a short read (a file truncated by someone): those reads go
  to SQLite. The file is read with ``pread``, never mapped, so a truncated file cannot
  crash the process.

The bytes carry no meaning beyond "changed", so there is nothing else in them to check:
any 8 bytes are a valid stamp.

Example:
    >>> import tempfile
    >>> stamp = TokenStamp(Path(tempfile.mkdtemp()))
    >>> before = stamp.read()
    >>> stamp.touch()
    >>> stamp.read() != before
    True
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

STAMP_NAME = "tokens.stamp"
STAMP_SIZE = 8


class TokenStamp:
    """The stamp file of one cache directory (see the module docstring).

    Args:
        directory: the cache namespace's directory (already checked private).
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / STAMP_NAME
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        # Descriptors replaced by a reopen stay open (a reader may be using one; closing
        # it could hand its number to another file) until this object goes.
        self._replaced: list[int] = []
        self.disabled_reason: str | None = None

    def read(self) -> bytes | None:
        """The current stamp; None when the shortcut is off (read the token from SQLite)."""
        fd = self._current()
        if fd is None:
            return None
        try:
            data = os.pread(fd, STAMP_SIZE, 0)
        except OSError:
            return None
        return data if len(data) == STAMP_SIZE else None

    def touch(self) -> None:
        """Store fresh random bytes: every reader's kept token is re-read once."""
        fd = self._current()
        if fd is not None:
            try:
                os.pwrite(fd, os.urandom(STAMP_SIZE), 0)
            except OSError as exc:
                self._disable(f"cannot write {self.path} ({exc})")

    def _current(self) -> int | None:
        """The descriptor of the file now at ``path`` (opened or created if need be)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and self._fd is not None and (st.st_dev, st.st_ino) == self._inode:
            return self._fd
        with self._lock:
            return self._reopen()

    def _reopen(self) -> int | None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            self._disable(f"cannot open {self.path} ({exc})")
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
                self._disable(f"{self.path} is not a regular file of this user")
                os.close(fd)
                return None
            if st.st_size < STAMP_SIZE:
                os.pwrite(fd, os.urandom(STAMP_SIZE), 0)
        except OSError as exc:
            os.close(fd)
            self._disable(f"cannot use {self.path} ({exc})")
            return None
        if self._fd is not None:
            self._replaced.append(self._fd)
        self._fd, self._inode = fd, (st.st_dev, st.st_ino)
        self.disabled_reason = None
        return fd

    def _disable(self, reason: str) -> None:
        if self.disabled_reason != reason:
            logger.warning("token stamp off, epochs are read from the database: %s", reason)
        self.disabled_reason = reason

    def __del__(self) -> None:
        for fd in [self._fd, *self._replaced]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


__all__ = ["STAMP_NAME", "TokenStamp"]
