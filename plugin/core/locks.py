"""One writer per embedded index: an exclusive OS lock on the data directory.

An embedded index (Qdrant Edge or qdrant-client local mode at ``data_dir/qdrant``, plus the
manifest, the BM25 state and the caches beside it) belongs to one process at a time. Two
processes writing it would each keep their own view and the last to flush would win, so the
second one fails at once with a line naming the holder. The lock is ``flock`` on
``data_dir/.ragdrop.lock``: the kernel drops it when the holder exits, even on SIGKILL, so a
crash never leaves a stale lock behind.

Example:
    >>> import tempfile
    >>> directory = tempfile.mkdtemp()
    >>> with DataDirLock(directory):
    ...     DataDirLock(directory).acquire()
    Traceback (most recent call last):
    ...
    ragdrop.core.locks.DataDirBusyError: data dir ... is in use by process ...
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ragdrop.core.files import check_private_dir, open_lock_file, read_text

LOCK_FILE = ".ragdrop.lock"


class DataDirBusyError(RuntimeError):
    """Another process holds the data directory (it is ingesting, restoring or serving)."""


class DataDirLock:
    """An exclusive lock on ``directory`` held from `acquire` to `release` (or the ``with``).

    Args:
        directory: the data directory (it must exist and be private).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        """Take the lock now or raise `DataDirBusyError` naming the process that holds it."""
        if self._fd is not None:
            return self
        check_private_dir(self.directory, "data dir")
        path = self.directory / LOCK_FILE
        fd = open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirBusyError(
                f"data dir {str(self.directory)!r} is in use by process {holder} (an ingest, "
                "restore or server); wait for it to finish, or send documents and questions "
                "to the running server (POST /documents, POST /query)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(directory: str | Path) -> int | None:
    """The live process that holds (or last held, if it was killed) ``directory``'s lock,
    read from the lock file without creating, locking or changing it; None when none."""
    try:
        text = read_text(Path(directory) / LOCK_FILE).strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return pid


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "(unknown pid)"
