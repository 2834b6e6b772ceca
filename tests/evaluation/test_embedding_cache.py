"""Embedding cache: .npy + JSON manifest, never unpickles, refuses shared directories."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ragdrop.evaluation.embedding_cache import EmbeddingCache, embedding_file_key, texts_sha256

pytestmark = pytest.mark.unit

MODEL = {"model_name": "m", "normalize": True}
TEXTS = ["alpha", "beta", "gamma"]


class CountingEmbed:
    """A deterministic embedding function that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.asarray([[len(t), i, 1.0] for i, t in enumerate(texts)], dtype=np.float32)


def _entry_path(cache: EmbeddingCache) -> Path:
    return cache.directory / f"{embedding_file_key(MODEL, texts_sha256(TEXTS))}.npy"


def test_second_run_reads_the_cache(tmp_path: Path) -> None:
    embed = CountingEmbed()
    first, hit1 = EmbeddingCache(tmp_path / "c").get_or_compute(MODEL, TEXTS, embed)
    second, hit2 = EmbeddingCache(tmp_path / "c").get_or_compute(MODEL, TEXTS, embed)
    assert (hit1, hit2) == (False, True)
    assert embed.calls == 1
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32


def test_key_depends_on_model_and_texts(tmp_path: Path) -> None:
    embed = CountingEmbed()
    cache = EmbeddingCache(tmp_path / "c")
    cache.get_or_compute(MODEL, TEXTS, embed)
    cache.get_or_compute(MODEL | {"normalize": False}, TEXTS, embed)
    cache.get_or_compute(MODEL, [*TEXTS[:2], "delta"], embed)
    cache.get_or_compute(MODEL, list(reversed(TEXTS)), embed)
    assert embed.calls == 4
    manifest = json.loads(cache.manifest_path.read_text())
    assert len(manifest["entries"]) == 4


def test_directory_is_private_and_shared_one_refused(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c")
    cache.get_or_compute(MODEL, TEXTS, CountingEmbed())
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError, match="writable by group or others"):
        EmbeddingCache(shared).put(MODEL, "x", np.zeros((1, 2), dtype=np.float32))


def test_tampered_file_is_a_miss(tmp_path: Path) -> None:
    embed = CountingEmbed()
    cache = EmbeddingCache(tmp_path / "c")
    cache.get_or_compute(MODEL, TEXTS, embed)
    path = _entry_path(cache)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    _, hit = cache.get_or_compute(MODEL, TEXTS, embed)
    assert not hit and embed.calls == 2


def test_pickled_array_is_never_loaded(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c")
    cache.get_or_compute(MODEL, TEXTS, CountingEmbed())
    path = _entry_path(cache)
    # An object array can only be stored by pickling; forge a manifest that trusts it.
    np.save(path, np.array([object()] * 3, dtype=object), allow_pickle=True)
    manifest = json.loads(cache.manifest_path.read_text())
    for entry in manifest["entries"].values():
        import hashlib

        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    cache.manifest_path.write_text(json.dumps(manifest))
    assert cache.get(MODEL, texts_sha256(TEXTS), len(TEXTS)) is None


def test_wrong_shape_or_corrupt_manifest_is_a_miss(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c")
    cache.get_or_compute(MODEL, TEXTS, CountingEmbed())
    assert cache.get(MODEL, texts_sha256(TEXTS), count=4) is None
    cache.manifest_path.write_text("{broken")
    assert cache.get(MODEL, texts_sha256(TEXTS), count=3) is None


def test_embed_returning_wrong_rows_is_rejected(tmp_path: Path) -> None:
    def bad(texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts) + 1, 2), dtype=np.float32)

    with pytest.raises(ValueError, match="embed returned shape"):
        EmbeddingCache(tmp_path / "c").get_or_compute(MODEL, TEXTS, bad)


def test_put_rejects_non_matrix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vectors must be 2-D"):
        EmbeddingCache(tmp_path / "c").put(MODEL, "x", np.zeros(3))
