"""Sentence embeddings from an ONNX encoder run by onnxruntime's CPU provider.

Reproduces what sentence-transformers does for a Transformer → Pooling (→ Normalize) model
(read from its ``modules.json``): truncation at ``max_seq_length``, mean (or CLS, max)
pooling over the attention mask, L2 normalisation. Faster on CPU because each batch holds
texts of similar length (sorted, order restored) padded only to its own longest text, and
the graph runs with every onnxruntime CPU optimization on all cores.

Example:
    >>> encoder = OnnxSentenceEncoder.load(model_dir, artifact.data)  # doctest: +SKIP
    >>> encoder.encode(["hello"], batch_size=32, normalize=True).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ragdrop.core.files import read_json

PoolingMode = Literal["mean", "cls", "max"]
_POOLING_FLAGS: dict[str, PoolingMode] = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}
_MODULES = ("Transformer", "Pooling", "Normalize")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_session(model: bytes, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``model`` tuned for throughput.

    Args:
        model: the ONNX model's bytes (already verified by the caller).
        threads: intra-op threads; None uses every core this process may run on.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1  # one graph, run op after op: parallelism is inside ops
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class SentenceConfig:
    """How a sentence-transformers model turns token vectors into one sentence vector."""

    pooling: PoolingMode
    normalize: bool
    max_seq_length: int
    dimension: int
    do_lower_case: bool

    @classmethod
    def read(cls, model_dir: str | Path) -> SentenceConfig:
        """Read ``modules.json``, the pooling config and ``sentence_bert_config.json``."""
        directory = Path(model_dir)
        modules = read_json(directory / "modules.json")
        if not isinstance(modules, list):
            raise ValueError(f"{directory / 'modules.json'} is not a list of modules")
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        unsupported = [k for k in kinds if k not in _MODULES]
        if unsupported or kinds[:2] != ["Transformer", "Pooling"]:
            raise ValueError(
                f"model {str(directory)!r} has modules {kinds}; the ONNX backend runs "
                "Transformer → Pooling (→ Normalize) only: use backend='torch' for this model"
            )
        pooling = read_json(directory / modules[1]["path"] / "config.json")
        st_config = read_json(directory / "sentence_bert_config.json")
        if not isinstance(pooling, dict) or not isinstance(st_config, dict):
            raise ValueError(f"model {str(directory)!r} has malformed sentence-transformers files")
        modes = [mode for flag, mode in _POOLING_FLAGS.items() if pooling.get(flag)]
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
        if len(modes) != 1 or len(others) != 1:
            raise ValueError(
                f"model {str(directory)!r} pools with {others}; the ONNX backend supports one "
                f"of {sorted(_POOLING_FLAGS)}: use backend='torch' for this model"
            )
        return cls(
            pooling=modes[0],
            normalize="Normalize" in kinds,
            max_seq_length=int(st_config.get("max_seq_length") or 512),
            dimension=int(pooling["word_embedding_dimension"]),
            do_lower_case=bool(st_config.get("do_lower_case", False)),
        )


def pool(hidden: np.ndarray, mask: np.ndarray, mode: PoolingMode) -> np.ndarray:
    """Sentence vectors from token vectors ``hidden`` (batch, tokens, dim) under ``mask``."""
    if mode == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(hidden.dtype)
    if mode == "max":
        return np.where(weights > 0, hidden, np.float32(-1e9)).max(axis=1)
    # sentence-transformers: sum / clamp(count, min=1e-9)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (torch.nn.functional.normalize: eps 1e-12)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def pad_batch(rows: list[dict[str, list[int]]], names: list[str], pad_id: int) -> dict[str, Any]:
    """int64 arrays for ``names``, right-padded to the longest row of this batch only."""
    width = max(len(row["input_ids"]) for row in rows)
    feeds: dict[str, Any] = {}
    for name in names:
        array = np.full((len(rows), width), pad_id if name == "input_ids" else 0, dtype=np.int64)
        for i, row in enumerate(rows):
            values = row.get(name)
            if values is None:  # the mask covers the real tokens; segment ids default to 0
                values = [1 if name == "attention_mask" else 0] * len(row["input_ids"])
            array[i, : len(values)] = values
        feeds[name] = array
    return feeds


class OnnxSentenceEncoder:
    """Embeds texts with an ONNX encoder session and a sentence-transformers pooling recipe.

    Args:
        session: an onnxruntime ``InferenceSession`` (thread-safe for concurrent ``run``).
        tokenizer: the model's Hugging Face tokenizer.
        config: pooling, normalisation and truncation of the model.
    """

    def __init__(self, session: Any, tokenizer: Any, config: SentenceConfig) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.config = config
        self._inputs = [i.name for i in session.get_inputs()]
        self._pad_id = int(tokenizer.pad_token_id or 0)

    @classmethod
    def load(cls, model_dir: str | Path, model: bytes) -> OnnxSentenceEncoder:
        """The encoder for the model at ``model_dir`` running the ONNX bytes ``model``."""
        from transformers import AutoTokenizer

        config = SentenceConfig.read(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        tokenizer.model_max_length = config.max_seq_length
        return cls(cpu_session(model), tokenizer, config)

    @property
    def max_seq_length(self) -> int:
        return self.config.max_seq_length

    @property
    def dimension(self) -> int:
        return self.config.dimension

    def encode(self, texts: list[str], batch_size: int, normalize: bool) -> np.ndarray:
        """Vectors of ``texts`` in their order, float32 (rows × `dimension`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.config.do_lower_case:
            texts = [t.lower() for t in texts]
        encoded = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.config.max_seq_length,
            padding=False,
            return_attention_mask=False,
        )
        rows = [{k: encoded[k][i] for k in encoded if k in self._inputs} for i in range(len(texts))]
        # Longest first, like sentence-transformers: batches of similar length pad little.
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]["input_ids"]))
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            feeds = pad_batch([rows[i] for i in chosen], self._inputs, self._pad_id)
            hidden = self.session.run(None, feeds)[0]
            vectors = pool(hidden, feeds["attention_mask"], self.config.pooling)
            if normalize or self.config.normalize:
                vectors = l2_normalize(vectors)
            out[chosen] = vectors
        return out
