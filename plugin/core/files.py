"""Files ragdrop owns: private directories, atomic replacement, reads that never follow links.

Every module that writes a file or a directory goes through here, so the rules live in one
place: directories are created 0700 and refused when another user owns them or may write to
them; a file or a directory that replaces another is built aside and swapped in by
``os.replace`` (readers see the old or the new version, never a mix), then the parent
directory is fsynced; files are opened with ``O_NOFOLLOW``, so a symlink planted in one of our
directories is refused instead of followed.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> directory = private_dir(root / "state")
    >>> atomic_write_json(directory / "settings.json", {"top_k": 5})
    >>> read_json(directory / "settings.json")
    {'top_k': 5}
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

JSONValue = object

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(PermissionError, ValueError):
    """A path ragdrop would read or write is a symlink, someone else's, or writable by others.

    Both a PermissionError and a ValueError (like ``io.UnsupportedOperation`` is both an
    OSError and a ValueError): callers that validated a directory argument used to raise
    ValueError, others PermissionError, and both kinds of ``except`` keep working.
    """


def check_private_dir(directory: Path, what: str = "directory") -> Path:
    """Refuse ``directory`` unless it is a real directory the current user owns and only they
    may write (raises `UnsafePathError` naming the path and the fix)."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        raise
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePathError(
            f"{what} {str(directory)!r} is a symbolic link; pass the real directory instead"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{what} {str(directory)!r} is not a directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UnsafePathError(
            f"{what} {str(directory)!r} is owned by uid {info.st_uid}, not by the current user "
            f"(uid {os.getuid()}); use a directory you own"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePathError(
            f"{what} {str(directory)!r} is writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 700 {directory}` "
            "or choose a private directory"
        )
    return directory


def private_dir(path: str | Path, what: str = "directory") -> Path:
    """Create ``path`` (mode 0700, parents too) or check that it is private; return it."""
    directory = Path(path).expanduser()
    # Path.mkdir(parents=True) creates the missing parents with the default mode, not 0700.
    for parent in reversed(directory.parents):
        if not parent.is_dir():
            parent.mkdir(exist_ok=True, mode=0o700)
    directory.mkdir(exist_ok=True, mode=0o700)
    return check_private_dir(directory, what)


def fsync_dir(path: str | Path) -> None:
    """Make renames inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_nofollow(path: str | Path, mode: str = "rb", encoding: str | None = None) -> IO:
    """Open ``path`` for reading (``"r"``/``"rb"``) without following a symlink at its end.

    Raises `UnsafePathError` when ``path`` is a symlink and FileNotFoundError when missing.
    """
    if mode not in ("r", "rb"):
        raise ValueError(f"mode must be 'r' or 'rb', got {mode!r}; write with atomic_write_*")
    fd = _open_no_link(path, os.O_RDONLY)
    if mode == "rb":
        return os.fdopen(fd, "rb")
    return os.fdopen(fd, "r", encoding=encoding or "utf-8")


def read_bytes(path: str | Path) -> bytes:
    """The bytes of ``path``, opened without following a symlink."""
    with open_nofollow(path, "rb") as handle:
        return bytes(handle.read())


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``, opened without following a symlink."""
    with open_nofollow(path, "r") as handle:
        return str(handle.read())


def read_json(path: str | Path) -> JSONValue:
    """The JSON value in ``path`` (never unpickled), opened without following a symlink."""
    return json.loads(read_text(path))


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")


def create_file(path: str | Path) -> IO[bytes]:
    """Open a new file ``path`` for writing (0600), refusing anything already there.

    ``O_EXCL | O_NOFOLLOW``: an existing file or a planted symlink is an error, never written
    through. Meant for files inside a `building_dir` scratch directory, which appear all at
    once when it is swapped in; to replace a file in place use `atomic_write`.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    return os.fdopen(fd, "wb")


@contextmanager
def atomic_file(path: str | Path) -> Iterator[IO[bytes]]:
    """Yield a binary handle whose content replaces file ``path`` when the block ends.

    The data goes to a new 0600 file beside ``path`` (`create_file`, so a planted symlink is
    never written through), is fsynced and renamed over ``path`` (a symlink at ``path`` is
    replaced, not followed), then the directory is fsynced. On an error ``path`` is untouched
    and the temporary file is removed. For writers that cannot be a callback (generators).
    """
    target = Path(path)
    tmp = _tmp_name(target)
    handle = create_file(tmp)  # before the try: what is at tmp when this fails is not ours
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Replace file ``path`` with what ``write(handle)`` writes, atomically and durably.

    See `atomic_file`: readers see the old or the new content, never a part.
    """
    with atomic_file(path) as handle:
        write(handle)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace file ``path`` with ``data`` (see `atomic_write`)."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace file ``path`` with ``text`` encoded as UTF-8 (see `atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, value: JSONValue) -> None:
    """Replace file ``path`` with ``value`` as JSON (see `atomic_write`)."""
    atomic_write_text(path, json.dumps(value, ensure_ascii=False))


@contextmanager
def building_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory aside, then swap it in for ``path`` whole.

    Yields a new private scratch directory beside ``path``; when the block ends without an
    error the scratch directory replaces ``path`` (`swap_dir`); on an error it is removed and
    ``path`` is untouched.
    """
    target = Path(path)
    private_dir(target.parent)
    scratch = _tmp_name(target)
    scratch.mkdir(mode=0o700)
    try:
        yield scratch
        swap_dir(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def swap_dir(new: str | Path, path: str | Path) -> None:
    """Replace directory ``path`` with directory ``new`` by renames; the old one is removed.

    Between the two renames ``path`` is briefly absent (POSIX has no atomic directory
    exchange); a reader then sees "not there yet", never a mix of generations, and a crash in
    that window leaves the old generation beside ``path`` as ``.NAME.old-*``.
    """
    new, target = Path(new), Path(path)
    old = None
    if os.path.lexists(target):
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    fsync_dir(target.parent)
    if old is not None:
        if old.is_symlink() or not old.is_dir():
            old.unlink(missing_ok=True)
        else:
            shutil.rmtree(old, ignore_errors=True)


def open_lock_file(path: str | Path) -> int:
    """A file descriptor on lock file ``path`` (created 0600; a symlink there is refused)."""
    return _open_no_link(path, os.O_RDWR | os.O_CREAT)


def _open_no_link(path: str | Path, flags: int) -> int:
    """``os.open`` with ``O_NOFOLLOW``: a symlink at ``path`` raises `UnsafePathError`."""
    try:
        return os.open(path, flags | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePathError(
                f"{str(path)!r} is a symbolic link; refusing to follow it"
            ) from exc
        raise
