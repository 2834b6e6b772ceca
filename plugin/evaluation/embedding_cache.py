"""Document embeddings kept on disk between evaluation runs, in a format that cannot run code.

Each entry is one ``.npy`` file (float32, read with ``allow_pickle=False``) listed in a JSON
manifest under a key derived from the model identity and the hash of the embedded texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


def texts_sha256(texts: Sequence[str]) -> str:
    """Hash of an ordered list of texts (what is embedded, so chunking changes the key)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


def cache_key(model_id: Mapping[str, Any], corpus_sha256: str) -> str:
    """SHA-256 of canonical JSON of the model identity and the corpus hash."""
    payload = {"v": FORMAT_VERSION, "model": dict(model_id), "corpus": corpus_sha256}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(
            f"cache_dir {str(path)!r} is writable by other users (mode {oct(mode & 0o777)}); "
            f"run `chmod 700 {path}` or choose another directory."
        )
    return path


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EmbeddingCache:
    """Embeddings per (model, corpus) as ``.npy`` files plus a JSON manifest.

    Args:
        directory: cache folder, created private (0700); refused if others can write it.

    Example:
        >>> cache = EmbeddingCache(".ragdrop/eval_cache")  # doctest: +SKIP
        >>> vectors = cache.get_or_compute({"model": "m"}, texts, embed)  # doctest: +SKIP
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def _manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {"version": FORMAT_VERSION, "entries": {}}
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            return {"version": FORMAT_VERSION, "entries": {}}
        return data

    def get(self, model_id: Mapping[str, Any], corpus_sha256: str, count: int) -> np.ndarray | None:
        """Cached vectors of shape ``(count, dim)``, or None when absent, stale or damaged."""
        key = cache_key(model_id, corpus_sha256)
        entry = self._manifest()["entries"].get(key)
        if not isinstance(entry, dict):
            return None
        path = self.directory / f"{key}.npy"
        try:
            if _file_sha256(path) != entry.get("sha256"):
                return None
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != count:
            return None
        if not np.isfinite(vectors).all():
            return None
        return vectors

    def put(self, model_id: Mapping[str, Any], corpus_sha256: str, vectors: np.ndarray) -> Path:
        """Store ``vectors`` (2-D) for this model and corpus; returns the ``.npy`` path."""
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"vectors must be 2-D (count, dim), got shape {array.shape}")
        _private_dir(self.directory)
        key = cache_key(model_id, corpus_sha256)
        path = self.directory / f"{key}.npy"
        _atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
        manifest = self._manifest()
        manifest["entries"][key] = {
            "model": dict(model_id),
            "corpus_sha256": corpus_sha256,
            "count": int(array.shape[0]),
            "dim": int(array.shape[1]),
            "sha256": _file_sha256(path),
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        _atomic_write(self.manifest_path, lambda handle: handle.write(text.encode("utf-8")))
        return path

    def get_or_compute(
        self,
        model_id: Mapping[str, Any],
        texts: Sequence[str],
        embed: Callable[[Sequence[str]], np.ndarray],
    ) -> tuple[np.ndarray, bool]:
        """Cached vectors for ``texts``, computing and storing them on a miss.

        Returns:
            ``(vectors, hit)``; ``hit`` is True when nothing was computed.
        """
        digest = texts_sha256(texts)
        cached = self.get(model_id, digest, len(texts))
        if cached is not None:
            return cached, True
        vectors = np.asarray(embed(texts), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(
                f"embed returned shape {vectors.shape} for {len(texts)} texts; expected (n, dim)"
            )
        self.put(model_id, digest, vectors)
        return vectors, False
