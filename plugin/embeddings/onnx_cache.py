"""ONNX exports kept on disk: built once under a lock, checked by hash every time they load.

A model's exports live in one private folder per source model (``<cache>/<name>-<key>``),
one ``<variant>.onnx`` per variant (``fp32``, ``int8``) beside a ``<variant>.json`` manifest
that holds the file's SHA-256 and the identity of the model it came from. A load reads the
bytes without following links and hashes exactly the bytes it hands to onnxruntime, so a
partial, corrupt, replaced or stale export is rebuilt, never run. The first use from several
threads or processes builds once: builders take ``flock`` on ``.export.lock`` in the folder
(the kernel drops it if the builder dies) and check again once they hold it.

Shared by every ONNX backend (embeddings now, the cross-encoder next): the caller says how to
build a variant (a callback that writes a file); this module owns where it goes and whether
it can be trusted.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> artifact = cached_onnx_model(
    ...     root, {"model": "demo"}, "fp32", lambda path: path.write_bytes(b"graph"))
    >>> artifact.built, artifact.data
    (True, b'graph')
    >>> cached_onnx_model(root, {"model": "demo"}, "fp32", lambda path: None).built
    False
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ragdrop.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    open_lock_file,
    private_dir,
    read_bytes,
    read_json,
)

logger = logging.getLogger(__name__)

# Bumped when the layout or the export recipe changes: older exports are then rebuilt.
FORMAT_VERSION = 1
LOCK_FILE = ".export.lock"
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class OnnxArtifact:
    """One verified export: its bytes (what the session loads), where it lives, its hash.

    ``built`` says whether this call built it (False: it was already there and intact).
    """

    data: bytes
    path: Path
    sha256: str
    built: bool


def source_key(source: Mapping[str, object]) -> str:
    """SHA-256 of the canonical JSON of ``source`` (what a folder's exports were built from)."""
    text = json.dumps(dict(source), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def export_folder(cache_dir: str | Path, source: Mapping[str, object]) -> Path:
    """The private folder holding the exports of ``source`` (created 0700 if missing)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(source.get("name", "model"))).strip(".-")
    folder = Path(cache_dir).expanduser() / f"{name[-48:] or 'model'}-{source_key(source)[:16]}"
    return private_dir(folder, "ONNX cache folder")


@contextmanager
def export_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s export lock (blocking) for the ``with`` block."""
    fd = open_lock_file(folder / LOCK_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def load_verified(folder: Path, source: Mapping[str, object], variant: str) -> OnnxArtifact | None:
    """The export ``variant`` in ``folder`` if its manifest and hash check out, else None."""
    path, manifest_path = folder / f"{variant}.onnx", folder / f"{variant}.json"
    try:
        manifest = read_json(manifest_path)
        data = read_bytes(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a planted link (UnsafePathError), bad JSON
        logger.warning("ONNX export %s is unusable (%s); rebuilding it", path, exc)
        return None
    digest = hashlib.sha256(data).hexdigest()
    expected = {
        "format": FORMAT_VERSION,
        "variant": variant,
        "source": json.loads(json.dumps(dict(source))),
        "onnx_sha256": digest,
        "onnx_bytes": len(data),
    }
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expected.items()):
        logger.warning("ONNX export %s does not match its manifest; rebuilding it", path)
        return None
    return OnnxArtifact(data=data, path=path, sha256=digest, built=False)


def cached_onnx_model(
    cache_dir: str | Path,
    source: Mapping[str, object],
    variant: str,
    build: Callable[[Path], object],
) -> OnnxArtifact:
    """Return the verified export ``variant`` of ``source``, building it once if needed.

    Args:
        cache_dir: root of the ONNX cache (private; one folder per source model below it).
        source: JSON-able identity of what the export is built from (model name, weights'
            hashes, exporter versions); a change means a new folder.
        variant: short name of the export (``fp32``, ``int8``), also its file name.
        build: writes the ONNX model to the path it is given (a fresh file in a private
            scratch folder); the bytes are then hashed and renamed into place.
    """
    if not isinstance(variant, str) or not _VARIANT.match(variant):
        raise ValueError(
            f"variant must be a short lowercase name like 'fp32' or 'int8', got {variant!r}"
        )
    folder = export_folder(cache_dir, source)
    found = load_verified(folder, source, variant)
    if found is not None:
        return found
    with export_lock(folder):
        found = load_verified(folder, source, variant)  # another builder may have finished
        if found is not None:
            return found
        scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))  # 0700
        try:
            build(scratch / f"{variant}.onnx")
            data = read_bytes(scratch / f"{variant}.onnx")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        digest = hashlib.sha256(data).hexdigest()
        path = folder / f"{variant}.onnx"
        atomic_write_bytes(path, data)
        # The manifest goes last: until it names this hash, a reader treats the file as absent.
        atomic_write_json(
            folder / f"{variant}.json",
            {
                "format": FORMAT_VERSION,
                "variant": variant,
                "source": dict(source),
                "onnx_sha256": digest,
                "onnx_bytes": len(data),
            },
        )
        logger.info("built ONNX export %s (%d bytes)", path, len(data))
        return OnnxArtifact(data=data, path=path, sha256=digest, built=True)
