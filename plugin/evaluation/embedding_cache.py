"""Document embeddings kept on disk between evaluation runs, in a format that cannot run code.

Each entry is one ``.npy`` file (float32, read with ``allow_pickle=False``) listed in a JSON
manifest under a key derived from the model identity and the hash of the embedded texts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ragdrop.cache.keys import cache_key
from ragdrop.core.files import (
    UnsafePathError,
    atomic_write,
    atomic_write_text,
    open_nofollow,
    private_dir,
    read_json,
)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


def texts_sha256(texts: Sequence[str]) -> str:
    """Hash of an ordered list of texts (what is embedded, so chunking changes the key)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode("utf-8")).digest())
    return digest.hexdigest()


def embedding_file_key(model_id: Mapping[str, Any], corpus_sha256: str) -> str:
    """Name of the cache entry of one (model, corpus): `ragdrop.cache.cache_key` of both."""
    return cache_key("embeddings", version=FORMAT_VERSION, model=model_id, corpus=corpus_sha256)


def _sha256_of(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


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
            data = read_json(self.manifest_path)
        except (FileNotFoundError, UnsafePathError, json.JSONDecodeError, UnicodeDecodeError):
            return {"version": FORMAT_VERSION, "entries": {}}
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            return {"version": FORMAT_VERSION, "entries": {}}
        return data

    def get(self, model_id: Mapping[str, Any], corpus_sha256: str, count: int) -> np.ndarray | None:
        """Cached vectors of shape ``(count, dim)``, or None when absent, stale or damaged."""
        key = embedding_file_key(model_id, corpus_sha256)
        entry = self._manifest()["entries"].get(key)
        if not isinstance(entry, dict):
            return None
        try:
            # One open for the hash and the load, so the checked bytes are the loaded ones.
            with open_nofollow(self.directory / f"{key}.npy", "rb") as handle:
                if _sha256_of(handle) != entry.get("sha256"):
                    return None
                handle.seek(0)
                vectors = np.load(handle, allow_pickle=False)
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
        private_dir(self.directory, "cache_dir")
        key = embedding_file_key(model_id, corpus_sha256)
        path = self.directory / f"{key}.npy"
        atomic_write(path, lambda handle: np.save(handle, array, allow_pickle=False))
        with open_nofollow(path, "rb") as handle:
            sha256 = _sha256_of(handle)
        manifest = self._manifest()
        manifest["entries"][key] = {
            "model": dict(model_id),
            "corpus_sha256": corpus_sha256,
            "count": int(array.shape[0]),
            "dim": int(array.shape[1]),
            "sha256": sha256,
        }
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        atomic_write_text(self.manifest_path, text)
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
