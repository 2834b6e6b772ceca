"""What runs a sentence-transformers model: torch, or its ONNX export (fp32 or int8).

`resolve_backend` turns ``"auto"`` into the backend that will run (ONNX Runtime when it
imports, else torch, with the reason logged); `load_encoder` builds it. Each encoder offers
the same small surface (``tokenizer``, ``max_seq_length``, ``dimension``, ``encode``), so the
LlamaIndex component does not care which one it holds.

Example:
    >>> resolve_backend("torch")
    'torch'
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ragdrop.core.choices import EMBED_BACKENDS
from ragdrop.core.validation import choice

logger = logging.getLogger(__name__)

ONNX_VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}
ONNX_DIR_ENV = "RAGDROP_ONNX_DIR"


class SentenceEncoder(Protocol):
    """What the embedding component needs from a loaded model."""

    @property
    def tokenizer(self) -> Any: ...

    @property
    def max_seq_length(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> np.ndarray: ...


def resolve_backend(backend: str, device: str | None = None) -> str:
    """The backend that will run: ``backend`` itself, or for ``"auto"`` ONNX Runtime when it
    imports and the device is the CPU, else torch (the reason is logged)."""
    choice("backend", backend, EMBED_BACKENDS)
    if backend != "auto":
        return backend
    if device not in (None, "cpu"):
        logger.info("embedding backend auto: torch, because device=%r is not the CPU", device)
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        logger.warning(
            "embedding backend auto: torch, because onnxruntime cannot be imported (%s); "
            "install onnxruntime for faster CPU embeddings",
            exc,
        )
        return "torch"
    return "onnx"


def default_onnx_dir() -> Path:
    """Where ONNX exports go when no folder is given: ``$RAGDROP_ONNX_DIR``, else the user's
    cache (``$XDG_CACHE_HOME/ragdrop/onnx`` or ``~/.cache/ragdrop/onnx``)."""
    if os.environ.get(ONNX_DIR_ENV):
        return Path(os.environ[ONNX_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ragdrop" / "onnx"


class TorchSentenceEncoder:
    """The sentence-transformers model itself (torch)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def dimension(self) -> int:
        getter = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(getter())

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors)


def load_encoder(
    path: str, name: str, backend: str, onnx_dir: Path | None, device: str | None
) -> SentenceEncoder:
    """Load the model at local directory ``path`` on ``backend`` (resolved, not ``"auto"``).

    ONNX backends export the model on first use into ``onnx_dir`` (default:
    `default_onnx_dir`) and load the verified export afterwards.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if backend == "torch":
        # Imported on first use: sentence-transformers (with torch) takes seconds to import.
        from sentence_transformers import SentenceTransformer

        return TorchSentenceEncoder(SentenceTransformer(path, device=device, local_files_only=True))
    variant = ONNX_VARIANTS.get(backend)
    if variant is None:
        raise ValueError(
            f"backend must be one of {sorted(ONNX_VARIANTS) + ['torch']} once resolved, "
            f"got {backend!r}"
        )
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"backend={backend!r} needs onnxruntime, which cannot be imported ({exc}); "
            "`pip install onnxruntime`, or use backend='torch'"
        ) from exc
    from ragdrop.embeddings.onnx_cache import cached_onnx_model
    from ragdrop.embeddings.onnx_export import export_transformer, quantize_int8, source_identity
    from ragdrop.embeddings.onnx_model import OnnxSentenceEncoder, SentenceConfig

    SentenceConfig.read(path)  # refuse an unsupported model before exporting it
    cache = onnx_dir if onnx_dir is not None else default_onnx_dir()
    source = source_identity(path, name)
    artifact = cached_onnx_model(cache, source, "fp32", lambda out: export_transformer(path, out))
    if variant == "int8":
        fp32 = artifact.data
        artifact = cached_onnx_model(cache, source, "int8", lambda out: quantize_int8(fp32, out))
    return OnnxSentenceEncoder.load(path, artifact.data)
