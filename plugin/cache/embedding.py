"""`CachedEmbedding`: any LlamaIndex embedding model behind a disk cache of its vectors.

Keys are the SHA-256 of the model's identity (class, name and every output-changing
setting) and the text; values are float64 arrays as bytes (`encode_array`), so a cached
vector is bit-identical to a fresh one and nothing read back is ever unpickled.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr, SecretStr, SerializeAsAny, field_serializer

from ragdrop.cache.backend import (
    CacheBackend,
    cache_location,
    check_cache_url,
    open_cache,
    redacted_secret_url,
)
from ragdrop.cache.keys import cache_key
from ragdrop.cache.vectors import decode_array, encode_array
from ragdrop.core.validation import Int
from ragdrop.observability.stages import stage

# Settings that change speed or plumbing but never the vectors.
_NOT_IDENTITY = {
    "embed_batch_size",
    "num_workers",
    "callback_manager",
    "embeddings_cache",
    "rate_limiter",
    "device",
    "onnx_dir",  # where an ONNX export is kept, not what it computes (the backend is kept)
}


def model_identity(model: BaseEmbedding) -> str:
    """A stable string naming ``model`` and every setting that changes its vectors."""
    data = {k: v for k, v in model.to_dict().items() if k not in _NOT_IDENTITY}
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


class CachedEmbedding(BaseEmbedding):
    """Wraps ``embed_model`` with a per-text disk cache; misses are embedded in one batch.

    Args:
        embed_model: any LlamaIndex ``BaseEmbedding``.
        cache_dir: cache root (0700; shared safely between processes).
        cache_url: instead, a Redis URL (``redis://``, ``rediss://``) shared by every process
            pointing at it (shown and serialized without its password).
        model_id: cache identity of the model; default: class, name and settings.
        memory_items: vectors also kept in this instance's memory (0 disables).

    Example:
        >>> embed = CachedEmbedding(embed_model=SentenceTransformerEmbedding(),
        ...                         cache_dir=".ragdrop/cache")  # doctest: +SKIP
        >>> embed.get_query_embedding("what is qdrant?")  # doctest: +SKIP
    """

    embed_model: SerializeAsAny[BaseEmbedding] = Field(description="The wrapped model.")
    cache_dir: Path | None = Field(default=None, description="Directory of the embedding cache.")
    cache_url: SecretStr | None = Field(
        default=None, description="Redis URL of the embedding cache; instead of cache_dir."
    )
    model_id: str | None = Field(default=None, description="Cache identity of the model.")
    memory_items: Int = Field(default=1024, ge=0, description="In-memory LRU size.")
    size_limit: Int = Field(default=2**30, gt=0, description="Cache bytes before eviction.")

    _cache: CacheBackend | None = PrivateAttr(default=None)
    _memory: OrderedDict[str, Embedding] = PrivateAttr(default_factory=OrderedDict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _identity: str = PrivateAttr(default="")

    def __init__(self, **data: Any) -> None:
        inner = data.get("embed_model")
        if not isinstance(inner, BaseEmbedding):
            raise TypeError(
                f"embed_model must be a llama_index BaseEmbedding, got {type(inner).__name__}"
            )
        data.setdefault("model_name", inner.model_name)
        data.setdefault("embed_batch_size", inner.embed_batch_size)
        super().__init__(**data)
        if self.cache_url is not None:
            check_cache_url(self.cache_url.get_secret_value())
        if cache_location(self.cache_dir, self.cache_url) is None:
            raise ValueError("pass cache_dir (a folder) or cache_url (a redis:// URL)")
        self._identity = self.model_id or model_identity(inner)

    @field_serializer("cache_url")
    def _serialize_cache_url(self, value: SecretStr | None) -> str | None:
        return redacted_secret_url(value)  # from_dict needs the password given again

    @classmethod
    def class_name(cls) -> str:
        return "CachedEmbedding"

    # -- pass-throughs used by chunkers and the pipeline -----------------------------------
    @property
    def tokenizer(self) -> Any:
        return getattr(self.embed_model, "tokenizer", None)

    @property
    def max_seq_length(self) -> Any:
        return getattr(self.embed_model, "max_seq_length", None)

    @property
    def dimension(self) -> Any:
        return getattr(self.embed_model, "dimension", None)

    def count_tokens(self, text: str) -> int:
        return int(self.embed_model.count_tokens(text))  # type: ignore[attr-defined]

    def warm_up(self) -> None:
        warm = getattr(self.embed_model, "warm_up", None)
        if callable(warm):
            warm()

    # -- cache plumbing ---------------------------------------------------------------------
    @property
    def cache(self) -> CacheBackend:
        """The cache, in ``cache_dir`` or at ``cache_url`` (opened on first use)."""
        with self._lock:
            if self._cache is None:
                location = cache_location(self.cache_dir, self.cache_url)
                if location is None:  # both cleared after construction
                    raise ValueError("pass cache_dir (a folder) or cache_url (a redis:// URL)")
                self._cache = open_cache(
                    location,
                    namespace="embeddings",
                    size_limit=self.size_limit,
                    # No write on every hit: repeated queries stay on SQLite's fast path.
                    eviction_policy="least-recently-stored",
                )
            return self._cache

    def _key(self, kind: str, text: str) -> str:
        return cache_key(self._identity, kind=kind, text=text)

    def _remember(self, key: str, vector: Embedding) -> None:
        if self.memory_items == 0:
            return
        with self._lock:
            self._memory[key] = vector
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def _lookup(self, kind: str, texts: list[str]) -> tuple[list[Embedding | None], list[str]]:
        keys = [self._key(kind, t) for t in texts]
        found: list[Embedding | None] = []
        for key in keys:
            with self._lock:
                vector = self._memory.get(key)
                if vector is not None:
                    self._memory.move_to_end(key)
            if vector is None:
                raw = self.cache.get_bytes(key)
                if raw is not None:
                    try:
                        vector = decode_array(raw).tolist()
                    except ValueError:
                        self.cache.delete(key)
                        vector = None
                    if vector is not None:
                        self._remember(key, vector)
            found.append(vector)
        return found, keys

    def _store(self, keys: list[str], vectors: list[Embedding]) -> None:
        encoded = [encode_array(np.asarray(v, dtype=np.float64)) for v in vectors]
        self.cache.set_many_bytes(list(zip(keys, encoded, strict=True)))
        for key, vector in zip(keys, vectors, strict=True):
            self._remember(key, list(vector))

    @staticmethod
    def _merge(
        found: list[Embedding | None], fresh: list[Embedding], misses: list[int]
    ) -> list[Embedding]:
        if len(fresh) != len(misses):
            raise ValueError(f"embed_model returned {len(fresh)} vectors for {len(misses)} texts")
        out = list(found)
        for i, vector in zip(misses, fresh, strict=True):
            out[i] = list(vector)
        return [v for v in out if v is not None]

    def _plan(
        self, kind: str, texts: list[str]
    ) -> tuple[list[Embedding | None], list[int], list[str]]:
        with stage("cache"):
            found, keys = self._lookup(kind, texts)
        misses = [i for i, v in enumerate(found) if v is None]
        return found, misses, [keys[i] for i in misses]

    # -- LlamaIndex hooks: one plan, sync and async only differ in the model call -------------
    def _get_query_embedding(self, query: str) -> Embedding:
        found, misses, keys = self._plan("query", [query])
        if not misses:
            return found[0]  # type: ignore[return-value]
        fresh = [self.embed_model._get_query_embedding(query)]
        self._store(keys, fresh)
        return self._merge(found, fresh, misses)[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        found, misses, keys = self._plan("query", [query])
        if not misses:
            return found[0]  # type: ignore[return-value]
        fresh = [await self.embed_model._aget_query_embedding(query)]
        self._store(keys, fresh)
        return self._merge(found, fresh, misses)[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        found, misses, keys = self._plan("text", list(texts))
        fresh = self.embed_model._get_text_embeddings([texts[i] for i in misses]) if misses else []
        self._store(keys, fresh)
        return self._merge(found, fresh, misses)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        found, misses, keys = self._plan("text", list(texts))
        fresh = (
            await self.embed_model._aget_text_embeddings([texts[i] for i in misses])
            if misses
            else []
        )
        self._store(keys, fresh)
        return self._merge(found, fresh, misses)

    def close(self) -> None:
        """Close the disk cache."""
        if self._cache is not None:
            self._cache.close()


__all__ = ["CachedEmbedding", "model_identity"]
