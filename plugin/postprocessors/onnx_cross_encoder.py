"""A cross-encoder run by ONNX Runtime: ragdrop's own export of the sequence-classification head.

The export, its hash-checked cache and the tuned CPU session are the embeddings' ONNX path
(`ragdrop.embeddings.onnx_export`, `.onnx_cache`, `.onnx_model`); this module adds only what a
cross-encoder needs on top: (query, passage) pairs in, one logit each out, and the activation
sentence-transformers would apply. Truncation, length-sorted batching and ``max_length`` are
`CrossEncoderRunner`'s, shared by subclassing, so both backends feed the model the same tokens.

Example:
    >>> resolve_backend("torch", "auto", "float32")
    'torch'
    >>> resolve_backend("auto", "cpu", "bfloat16")  # reduced precision is a torch feature
    'torch'
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragdrop.core.files import read_json
from ragdrop.core.validation import choice
from ragdrop.embeddings.backends import ONNX_VARIANTS, default_onnx_dir
from ragdrop.embeddings.onnx_export import ExportTask
from ragdrop.postprocessors.cross_encoder_model import (
    BACKENDS,
    Backend,
    CrossEncoderRunner,
    Precision,
    resolve_device,
)

logger = logging.getLogger(__name__)

_TASK: ExportTask = "sequence-classification"
# int8 keeps the attention output projections fp32 too (the embeddings keep only the
# feed-forward down-projections): a ranking hangs on small differences between passages'
# scores, and these projections' outliers reordered the top 10 most in a trial on the
# MiniLM-L6 cross-encoder of benchmarks/rerank.py (its onnx-int8 row: speed, overlap, tau).
_KEEP_FP32 = re.compile(r"/layer\.\d+/(attention/)?output/dense/MatMul$")


def resolve_backend(backend: Backend, device: str, precision: str) -> Backend:
    """The backend that will run: ``backend`` itself, or for ``"auto"`` the fp32 ONNX export
    when the model runs on the CPU in float32 and onnxruntime imports, else torch (the
    reason is logged). ``device="auto"`` asks torch whether a GPU is there."""
    choice("backend", backend, BACKENDS)
    if backend != "auto":
        return backend
    if precision != "float32":
        logger.info("rerank backend auto: torch, because precision=%r is a torch option", precision)
        return "torch"
    resolved = resolve_device(device)
    if resolved != "cpu":
        logger.info("rerank backend auto: torch, because device %r is not the CPU", resolved)
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        logger.warning(
            "rerank backend auto: torch, because onnxruntime cannot be imported (%s); "
            "install onnxruntime for faster CPU reranking",
            exc,
        )
        return "torch"
    return "onnx"


def default_activation(model_dir: str | Path) -> Any:
    """The torch activation module ``CrossEncoder.predict`` applies by default for the model.

    sentence-transformers' rule, read from ``config.json`` without loading the weights:
    ``sentence_transformers.activation_fn`` (or the older
    ``sbert_ce_default_activation_function``) when it is a ``torch.`` path (others need
    ``trust_remote_code``, which ragdrop never sets), else sigmoid (one output).
    """
    import torch

    config = read_json(Path(model_dir) / "config.json")
    settings = config.get("sentence_transformers") if isinstance(config, dict) else None
    name = settings.get("activation_fn") if isinstance(settings, dict) else None
    if name is None and isinstance(config, dict):
        name = config.get("sbert_ce_default_activation_function")
    if isinstance(name, str) and name.startswith("torch."):
        module, _, attribute = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module), attribute)()
        except (ImportError, AttributeError) as exc:
            raise ImportError(
                f"model {str(model_dir)!r} names activation {name!r}, which torch lacks: "
                "fix its config.json or pass activation='sigmoid' or 'none'"
            ) from exc
    if name is not None:
        logger.warning(
            "activation %r in %s is not a torch. path and remote code is never trusted; "
            "using sigmoid, as sentence-transformers does",
            name,
            model_dir,
        )
    return torch.nn.Sigmoid()


@dataclass(frozen=True)
class OnnxCrossEncoder:
    """A loaded export: the onnxruntime session, the tokenizer and the graph's input names."""

    session: Any
    tokenizer: Any
    inputs: tuple[str, ...]


class OnnxCrossEncoderRunner(CrossEncoderRunner):
    """`CrossEncoderRunner` on ONNX Runtime's CPU provider (same truncation and batching).

    The model is exported on first use into ``onnx_dir`` (one private folder per model,
    verified by SHA-256 at every load; a corrupt or partial file is rebuilt) and built once
    even when several threads or processes ask at the same time.

    Args:
        model_path: local directory of the model (already resolved for offline use).
        name: the model's display name (names the export folder).
        max_length: tokens per pair (query + passage + special tokens).
        variant: ``fp32`` (within 1e-4 of torch) or ``int8`` (dynamic quantisation).
        onnx_dir: root of the export cache; None: `default_onnx_dir`.
        batch_size: pairs per forward pass.
    """

    tensor_type = "np"

    def __init__(
        self,
        model_path: str,
        *,
        name: str,
        max_length: int,
        variant: str = "fp32",
        onnx_dir: Path | None = None,
        batch_size: int = 32,
    ) -> None:
        backends = {v: k for k, v in ONNX_VARIANTS.items()}
        if variant not in backends:
            raise ValueError(f"variant must be one of {sorted(backends)}, got {variant!r}")
        super().__init__(
            model_path,
            max_length=max_length,
            device="cpu",
            backend="onnx" if variant == "fp32" else "onnx-int8",
            batch_size=batch_size,
        )
        self.name = name
        self.variant = variant
        self.onnx_dir = onnx_dir if onnx_dir is not None else default_onnx_dir()
        self.export_built = False  # whether this runner wrote an export (tests, logs)
        self._activation: Any = None

    def load(self) -> OnnxCrossEncoder:
        """The session and tokenizer (exported or verified and loaded on first call, once)."""
        model: OnnxCrossEncoder = super().load()
        return model

    def _build(self) -> OnnxCrossEncoder:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                f"backend={self.backend!r} needs onnxruntime, which cannot be imported "
                f"({exc}); `pip install onnxruntime`, or use backend='torch'"
            ) from exc
        from transformers import AutoConfig, AutoTokenizer

        from ragdrop.embeddings.onnx_cache import cached_onnx_model
        from ragdrop.embeddings.onnx_export import (
            export_transformer,
            quantize_int8,
            source_identity,
        )
        from ragdrop.embeddings.onnx_model import cpu_session

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = self.model_path
        labels = AutoConfig.from_pretrained(path, local_files_only=True).num_labels
        if labels != 1:  # refused before the export, not after
            raise ValueError(
                f"model {path!r} has num_labels={labels}; a reranker needs a cross-encoder "
                "with one output (a relevance score)"
            )
        source = source_identity(path, self.name, _TASK)
        artifact = cached_onnx_model(
            self.onnx_dir, source, "fp32", lambda out: export_transformer(path, out, _TASK)
        )
        built = artifact.built
        if self.variant == "int8":
            fp32 = artifact.data
            artifact = cached_onnx_model(
                self.onnx_dir, source, "int8", lambda out: quantize_int8(fp32, out, _KEEP_FP32)
            )
            built = built or artifact.built
        self.export_built = built
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        session = cpu_session(artifact.data)
        inputs = tuple(i.name for i in session.get_inputs())
        return OnnxCrossEncoder(session=session, tokenizer=tokenizer, inputs=inputs)

    @property
    def activation_name(self) -> str:
        """Dotted name of the default activation (as sentence-transformers saves it).

        Read from the config, without loading the export or importing sentence-transformers.
        """
        kind = type(self._activation_fn())
        return f"{kind.__module__}.{kind.__name__}"

    def _activation_fn(self) -> Any:
        if self._activation is None:
            with self._lock:
                if self._activation is None:
                    self._activation = default_activation(self.model_path)
        return self._activation

    def _forward(self, features: Any, count: int) -> list[float]:
        model = self.load()
        feeds = {name: np.asarray(features[name], dtype=np.int64) for name in model.inputs}
        logits = model.session.run(None, feeds)[0]
        return [float(v) for v in np.asarray(logits, dtype=np.float32).reshape(count, -1)[:, 0]]


def build_runner(
    model_path: str,
    *,
    name: str,
    max_length: int,
    backend: Backend,
    device: str,
    precision: Precision,
    onnx_dir: Path | None,
    batch_size: int,
) -> CrossEncoderRunner:
    """The runner for ``backend`` (``auto`` resolved by `resolve_backend`); loads no weights."""
    resolved = resolve_backend(backend, device, precision)
    variant = ONNX_VARIANTS.get(resolved)
    if variant is not None:
        return OnnxCrossEncoderRunner(
            model_path,
            name=name,
            max_length=max_length,
            variant=variant,
            onnx_dir=onnx_dir,
            batch_size=batch_size,
        )
    return CrossEncoderRunner(
        model_path,
        max_length=max_length,
        device=device,
        backend=resolved,
        precision=precision,
        batch_size=batch_size,
    )


__all__ = [
    "OnnxCrossEncoder",
    "OnnxCrossEncoderRunner",
    "build_runner",
    "default_activation",
    "resolve_backend",
]
