"""Loading and running a sentence-transformers cross-encoder: pairs in, raw logits out.

Kept apart from the LlamaIndex postprocessor so the node handling, caching and ranking
read on one screen and the model plumbing (devices, backends, truncation) on another.

torch and sentence-transformers are imported inside the functions that load or run a model:
importing them takes seconds (measured on a loaded 2-core machine this round: torch 4.1 s,
sentence-transformers 11.4 s), which `import ragdrop` and `ragdrop --help` must not pay.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from ragdrop.postprocessors.scoring import length_sorted_batches, split_token_budget

logger = logging.getLogger(__name__)

# "auto": ONNX Runtime on the CPU when it imports, else torch (`onnx_cross_encoder`);
# "onnx"/"onnx-int8": ragdrop's own export; "openvino": sentence-transformers' (needs optimum).
Backend = Literal["auto", "onnx", "onnx-int8", "torch", "openvino"]
BACKENDS: tuple[str, ...] = get_args(Backend)
Precision = Literal["float32", "bfloat16", "float16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
# Positions beyond 512 are rare in rerankers and cost quadratic attention; a tokenizer
# that reports no limit (transformers' 1e30 sentinel) falls back to this too.
MAX_LENGTH_CAP = 512
# A query is cut only when fewer passage tokens than this would remain.
MIN_PASSAGE_TOKENS = 64
# Characters tokenised per kept passage token before the rest is even looked at: word
# pieces average 4-5 characters, so long passages are not tokenised in full.
_CHARS_PER_TOKEN_BOUND = 16


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return int(value)
    return None


def trained_max_length(model_dir: str | Path, cap: int = MAX_LENGTH_CAP) -> int:
    """The input length a cross-encoder saved at ``model_dir`` was set up for, from its files.

    Reads (without loading weights) sentence-transformers' ``max_seq_length``, the
    tokenizer's ``model_max_length`` and the config's ``max_position_embeddings``; the
    smallest that is set wins, capped at ``cap``.
    """
    root = Path(model_dir)
    candidates = [
        _positive_int(_read_json(root / "sentence_bert_config.json").get("max_seq_length")),
        _positive_int(_read_json(root / "tokenizer_config.json").get("model_max_length")),
        _positive_int(_read_json(root / "config.json").get("max_position_embeddings")),
    ]
    known = [c for c in candidates if c is not None]
    return min([*known, cap])


def model_fingerprint(model_dir: str | Path) -> str:
    """SHA-256 of the resolved path, names, sizes and mtimes of the model's files.

    Changes when the weights at a path are replaced, so cached scores of the old model are
    not served for the new one; costs a few ``stat`` calls, not a read of the weights.
    """
    root = Path(model_dir).resolve()
    digest = hashlib.sha256(str(root).encode("utf-8"))
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.is_file():
            info = entry.stat()
            digest.update(f"\0{entry.name}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` if available, else ``mps``, else ``cpu``; anything else as is."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


# The backends sentence-transformers runs (ONNX is ragdrop's own: `onnx_cross_encoder`).
_BACKEND_PACKAGES = {
    "torch": (),
    "openvino": ("optimum", "openvino"),
}


def missing_backend_packages(backend: str) -> list[str]:
    """Python packages a sentence-transformers backend needs that are not installed."""
    return [name for name in _BACKEND_PACKAGES[backend] if importlib.util.find_spec(name) is None]


def _offsets(tokenizer: Any, texts: list[str]) -> list[list[tuple[int, int]]]:
    """Character span of every word piece of each text (no special tokens)."""
    # verbose=False: measuring a passage longer than the model's window is the point here,
    # not the mistake transformers warns about.
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return list(encoded["offset_mapping"])


class CrossEncoderRunner:
    """A cross-encoder loaded once (thread-safe) that scores (query, passage) pairs.

    Args:
        model_path: local directory of the model (already resolved for offline use).
        max_length: tokens per pair (query + passage + special tokens).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        backend: sentence-transformers backend: ``torch`` or ``openvino`` (ONNX Runtime is
            `OnnxCrossEncoderRunner`, which shares this class's truncation and batching).
        precision: ``float32``; ``bfloat16``/``float16`` weights; ``int8`` dynamic
            quantisation of the Linear layers (CPU). All but float32 need backend ``torch``.
        batch_size: pairs per forward pass.
    """

    # What the tokenizer returns for `_forward`: torch tensors here, numpy for ONNX Runtime.
    tensor_type = "pt"

    def __init__(
        self,
        model_path: str,
        *,
        max_length: int,
        device: str = "auto",
        backend: Backend = "torch",
        precision: Precision = "float32",
        batch_size: int = 32,
    ) -> None:
        self.model_path = model_path
        # Taken now, before the weights are read: identifies the model these scores are from.
        self.fingerprint = model_fingerprint(model_path)
        self.max_length = max_length
        self.device = device
        self.backend = backend
        self.precision = precision
        self.batch_size = batch_size
        self.pairs_scored = 0  # pairs that went through the model (observability, tests)
        self._model: Any = None
        self._lock = threading.Lock()
        # A fast tokenizer keeps its padding/truncation settings in shared Rust state that
        # each call rewrites: concurrent calls must take turns (the forward pass need not).
        self._tokenizer_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        """The sentence-transformers ``CrossEncoder`` (loaded on first call, once)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._build()
        return self._model

    def _build(self) -> Any:
        from sentence_transformers import CrossEncoder

        missing = missing_backend_packages(self.backend)
        if missing:
            # sentence-transformers raises a bare Exception here; say it before loading.
            raise ImportError(
                f"backend={self.backend!r} needs {', '.join(missing)}: "
                f"`pip install 'sentence-transformers[{self.backend}]'`, or use backend='torch'"
            )
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        device = resolve_device(self.device)
        model = CrossEncoder(
            self.model_path,
            device=device,
            backend=self.backend,
            max_length=self.max_length,
            local_files_only=True,
            # No activation_fn: the model keeps the default `CrossEncoder.predict` applies
            # (its config's, else sigmoid for one label), read by `activation_name`. The
            # forward pass below returns raw logits either way; those are what is cached.
        )
        if model.num_labels != 1:
            raise ValueError(
                f"model {self.model_path!r} has num_labels={model.num_labels}; a reranker "
                "needs a cross-encoder with one output (a relevance score)"
            )
        self._apply_precision(model, device)
        model.eval()
        return model

    @property
    def activation_name(self) -> str:
        """Dotted name of the activation ``CrossEncoder.predict`` applies by default.

        sentence-transformers' rule: the model config's ``activation_fn`` (a ``torch.``
        path; others need ``trust_remote_code``, which ragdrop never sets), else sigmoid
        for a one-label model. Loads the model.
        """
        from sentence_transformers.util import fullname

        return str(fullname(self._activation_fn()))

    def _activation_fn(self) -> Any:
        return self.load().activation_fn

    def activate(self, logits: Sequence[float]) -> list[float]:
        """``logits`` through the model's own activation module (loads the model)."""
        import torch

        activation = self._activation_fn()
        with torch.inference_mode():
            values = activation(torch.tensor([[float(x)] for x in logits]))
        return [float(v) for v in values.reshape(len(logits), -1)[:, 0].tolist()]

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer (loads the model)."""
        return self.load().tokenizer

    def _forward(self, features: Any, count: int) -> list[float]:
        """Raw logits of one tokenised batch of ``count`` pairs."""
        import torch

        model = self.load()
        with torch.inference_mode():
            logits = model({key: value.to(model.device) for key, value in features.items()})
            values = logits["scores"].float().reshape(count, -1)[:, 0].cpu().tolist()
        return [float(v) for v in values]

    def _apply_precision(self, model: Any, device: str) -> None:
        if self.precision == "float32":
            return
        if self.backend != "torch":
            raise ValueError(
                f"precision={self.precision!r} needs backend='torch', got "
                f"backend={self.backend!r}; for ONNX/OpenVINO load an already quantised file"
            )
        import torch

        if self.precision != "int8":
            # Half-width weights and activations: ~2x faster where the CPU has bf16 units
            # (AVX512-BF16/AMX) or on a GPU; slower on CPUs without them.
            model[0].model.to(getattr(torch, self.precision))
            return
        if not device.startswith("cpu"):
            raise ValueError(
                f"precision='int8' (dynamic quantisation) runs on the CPU only, got "
                f"device={device!r}; use precision='float16' or 'bfloat16' on a GPU"
            )
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # int8 weights (per output channel: measured closer to float32 than per tensor) and
        # dynamically quantised activations in every Linear layer, the bulk of a BERT's
        # FLOPs. It reorders close candidates: see the Kendall tau in benchmarks/rerank.py.
        with warnings.catch_warnings():
            # torch 2.13 marks its quantised tensor types deprecated; the path still works.
            warnings.simplefilter("ignore", UserWarning)
            quantize_dynamic(
                model[0].model,
                {torch.nn.Linear: per_channel_dynamic_qconfig},
                dtype=torch.qint8,
                inplace=True,
            )

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Raw relevance logits of ``(query, passage)`` pairs, in the order of ``passages``.

        The query is kept whole and each passage cut to the tokens left in ``max_length``;
        batches hold passages of similar length.
        """
        if not passages:
            return []
        tokenizer = self.tokenizer
        with self._tokenizer_lock:
            query, passages_cut, lengths = self._truncate(tokenizer, query, passages)
        scores: list[float] = [0.0] * len(passages_cut)
        for batch in length_sorted_batches(lengths, self.batch_size):
            with self._tokenizer_lock:
                features = tokenizer(
                    [query] * len(batch),
                    [passages_cut[i] for i in batch],
                    padding=True,
                    # A safety net: the passages are already cut to fit.
                    truncation="only_second",
                    max_length=self.max_length,
                    return_tensors=self.tensor_type,
                )
            for i, value in zip(batch, self._forward(features, len(batch)), strict=True):
                scores[i] = value
        with self._lock:
            self.pairs_scored += len(passages_cut)
        return scores

    def _truncate(
        self, tokenizer: Any, query: str, passages: Sequence[str]
    ) -> tuple[str, list[str], list[int]]:
        """The query (whole unless absurdly long), passages cut at a token boundary, lengths."""
        special = tokenizer.num_special_tokens_to_add(pair=True)
        if not getattr(tokenizer, "is_fast", False):
            return self._truncate_slow(tokenizer, query, passages, special)
        q_offsets = _offsets(tokenizer, [query])[0]
        q_len = len(q_offsets)
        kept_q, budget = split_token_budget(q_len, self.max_length, special, MIN_PASSAGE_TOKENS)
        if kept_q < q_len:
            logger.warning(
                "rerank query of %d tokens cut to %d so passages keep %d of max_length=%d",
                q_len,
                kept_q,
                budget,
                self.max_length,
            )
            query = query[: q_offsets[kept_q - 1][1]]
        window = budget * _CHARS_PER_TOKEN_BOUND
        heads = [p[:window] for p in passages]
        cut: list[str] = []
        lengths: list[int] = []
        for text, head, offsets in zip(passages, heads, _offsets(tokenizer, heads), strict=True):
            if len(offsets) < budget and len(head) < len(text):
                # Unusually long tokens (URLs, runs of spaces): look at the whole passage.
                offsets = _offsets(tokenizer, [text])[0]
            if len(offsets) >= budget:
                cut.append(text[: offsets[budget - 1][1]])
                lengths.append(budget)
            else:
                cut.append(text)
                lengths.append(len(offsets))
        return query, cut, lengths

    def _truncate_slow(
        self, tokenizer: Any, query: str, passages: Sequence[str], special: int
    ) -> tuple[str, list[str], list[int]]:
        # Python tokenizers give no character offsets: measure lengths only and leave the
        # cut to truncation="only_second" (a rare path; every hub cross-encoder has a fast one).
        q_ids = tokenizer(query, add_special_tokens=False)["input_ids"]
        kept_q, budget = split_token_budget(
            len(q_ids), self.max_length, special, MIN_PASSAGE_TOKENS
        )
        if kept_q < len(q_ids):
            query = tokenizer.decode(q_ids[:kept_q])
        ids = tokenizer(list(passages), add_special_tokens=False)["input_ids"]
        return query, list(passages), [min(budget, len(i)) for i in ids]
