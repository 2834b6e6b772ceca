"""CachedEmbedding: identical vectors, misses embedded once in one batch, sync and async."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from ragdrop.cache import CachedEmbedding


class HashEmbedding(BaseEmbedding):
    """A deterministic embedding that records every batch it is asked to embed."""

    dim: int = 8
    prefix: str = ""
    _batches: list[list[str]] = PrivateAttr(default_factory=list)

    def _vec(self, text: str) -> list[float]:
        digest = hashlib.sha256((self.prefix + text).encode()).digest()
        return [b / 255 for b in digest[: self.dim]]

    def _get_query_embedding(self, query: str) -> list[float]:
        self._batches.append(["Q:" + query])
        return self._vec("Q:" + query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._batches.append(list(texts))
        return [self._vec(t) for t in texts]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._get_text_embeddings(texts)


pytestmark = pytest.mark.unit


def test_misses_embedded_once_in_one_batch(tmp_path: Path) -> None:
    inner = HashEmbedding(model_name="hash")
    cached = CachedEmbedding(embed_model=inner, cache_dir=tmp_path, memory_items=0)
    texts = ["a", "b", "c"]
    first = cached.get_text_embedding_batch(texts)
    assert inner._batches == [texts]
    assert first == [inner._vec(t) for t in texts]
    mixed = cached.get_text_embedding_batch(["b", "d", "a", "e"])
    assert inner._batches[-1] == ["d", "e"]
    assert mixed == [inner._vec(t) for t in ["b", "d", "a", "e"]]
    calls = len(inner._batches)
    assert cached.get_text_embedding_batch(texts) == first
    assert len(inner._batches) == calls


def test_query_and_text_are_separate_and_shared_across_instances(tmp_path: Path) -> None:
    inner = HashEmbedding(model_name="hash")
    one = CachedEmbedding(embed_model=inner, cache_dir=tmp_path)
    q = one.get_query_embedding("hello")
    t = one.get_text_embedding("hello")
    assert q != t
    other_inner = HashEmbedding(model_name="hash")
    two = CachedEmbedding(embed_model=other_inner, cache_dir=tmp_path)  # fresh memory, same disk
    assert two.get_query_embedding("hello") == q and two.get_text_embedding("hello") == t
    assert other_inner._batches == []


def test_model_identity_separates_models(tmp_path: Path) -> None:
    a = CachedEmbedding(embed_model=HashEmbedding(model_name="hash"), cache_dir=tmp_path)
    b_inner = HashEmbedding(model_name="hash", prefix="other")
    b = CachedEmbedding(embed_model=b_inner, cache_dir=tmp_path)
    assert a.get_text_embedding("x") != b.get_text_embedding("x")
    assert b_inner._batches == [["x"]]


async def test_async_paths(tmp_path: Path) -> None:
    inner = HashEmbedding(model_name="hash")
    cached = CachedEmbedding(embed_model=inner, cache_dir=tmp_path)
    q = await cached.aget_query_embedding("hi")
    assert q == cached.get_query_embedding("hi")
    texts = await cached.aget_text_embedding_batch(["x", "y"])
    assert texts == cached.get_text_embedding_batch(["x", "y"])
    assert len(inner._batches) == 2


def test_rejects_non_embedding(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="embed_model"):
        CachedEmbedding(embed_model="minilm", cache_dir=tmp_path)  # type: ignore[arg-type]


@pytest.mark.integration
def test_real_minilm_vectors_are_bit_identical(embed_model: Any, tmp_path: Path) -> None:
    cached = CachedEmbedding(embed_model=embed_model, cache_dir=tmp_path, memory_items=0)
    fresh = embed_model.get_query_embedding("what is qdrant?")
    assert cached.get_query_embedding("what is qdrant?") == fresh
    assert cached.get_query_embedding("what is qdrant?") == fresh  # from disk
    assert cached.dimension == 384 and cached.tokenizer is embed_model.tokenizer
