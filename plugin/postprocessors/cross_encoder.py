"""Cross-encoder reranking as a LlamaIndex node postprocessor: fast, cached, side-effect free."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any, Literal, Self, get_args

from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import Field, PrivateAttr, field_validator, model_validator

from ragdrop.cache.keys import cache_key
from ragdrop.cache.safe_cache import SafeCache
from ragdrop.core.copying import deep_copy_component
from ragdrop.core.provenance import RERANK_KEY, annotate, content_without_scores
from ragdrop.core.validation import Float, Int
from ragdrop.embeddings.backends import ONNX_VARIANTS
from ragdrop.embeddings.sentence_transformer import ModelNotAvailableError, resolve_model_path
from ragdrop.observability.stages import Stage, stage
from ragdrop.postprocessors.cross_encoder_model import (
    BACKENDS,
    PRECISIONS,
    Backend,
    CrossEncoderRunner,
    Precision,
    trained_max_length,
)
from ragdrop.postprocessors.onnx_cross_encoder import build_runner
from ragdrop.postprocessors.scoring import (
    PURE_ACTIVATIONS,
    content_hash,
    rank_indices,
    sigmoid,
    unique_positions,
)

DEFAULT_RERANK_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
# The hub renamed the repo; either name may be in a local cache.
_DEFAULT_ALIASES = (DEFAULT_RERANK_MODEL, "cross-encoder/ms-marco-MiniLM-L6-v2")
RERANK_MODEL_ENV = "RAGDROP_RERANK_MODEL"
RERANK_METADATA_KEY = RERANK_KEY
_CACHE_NAMESPACE = "rerank"
# Bump when the scoring changes in a way the other key fields do not capture.
_CACHE_VERSION = 1
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

Activation = Literal["model", "sigmoid", "none"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)


def find_cross_encoder(configured: str | None = None) -> str | None:
    """A local cross-encoder to rerank with, or None when there is none.

    Order: ``configured`` (a directory or cached hub id; raises ModelNotAvailableError with
    the fix if it is not available offline), then the ``RAGDROP_RERANK_MODEL`` environment
    variable (same), then ``cross-encoder/ms-marco-MiniLM-L-6-v2`` if it is in the local
    Hugging Face cache.

    Example:
        >>> find_cross_encoder(None) is None or isinstance(find_cross_encoder(None), str)
        True
    """
    chosen = configured or os.environ.get(RERANK_MODEL_ENV) or None
    if chosen:
        return _resolve(chosen)
    for name in _DEFAULT_ALIASES:
        try:
            return resolve_model_path(name)
        except ModelNotAvailableError:
            continue
    return None


def _resolve(model: str) -> str:
    try:
        return resolve_model_path(model)
    except ModelNotAvailableError as exc:
        raise ModelNotAvailableError(
            f"Cross-encoder {model!r} is not available offline: it is neither a local "
            "directory nor in the Hugging Face cache. Download it where there is network "
            "access (e.g. `hf download cross-encoder/ms-marco-MiniLM-L-6-v2 --local-dir "
            "/models/ms-marco-MiniLM-L-6-v2`) and pass the directory: "
            "CrossEncoderReranker(model='/models/ms-marco-MiniLM-L-6-v2'), "
            f"`--rerank-model /models/ms-marco-MiniLM-L-6-v2` or {RERANK_MODEL_ENV}."
        ) from exc


class CrossEncoderReranker(BaseNodePostprocessor):
    """Rerank retrieved nodes with a cross-encoder; drop-in for ``SentenceTransformerRerank``.

    Returns new nodes (the input is never modified) ordered by the cross-encoder's score,
    a plain ``float`` on the scale ``SentenceTransformerRerank`` gives (the activation
    ``CrossEncoder.predict`` applies by default: sigmoid for a one-label model unless its
    config names another), so a ``SimilarityPostprocessor`` cutoff keeps its meaning. Each
    carries ``metadata["rerank"] = {"score", "logit", "retrieval_score"}`` (hidden from
    embedding and LLM text); other metadata such as ``"fusion"`` is kept.
    The model loads on first use; identical passages are scored once; with ``cache_dir``
    scores persist per (model, max_length, backend, query, passage), so a repeated
    question does not run the model at all.

    Args:
        model: local directory or cached hub id of a one-output cross-encoder.
        top_n: nodes returned (None: all).
        score_threshold: drop nodes scoring below this (after ``activation``).
        activation: ``model`` (default): the model's own, as sentence-transformers applies
            it (a config naming a non-``torch.`` function falls back to the default:
            ragdrop never trusts remote code, where ``SentenceTransformerRerank`` does);
            ``sigmoid``; ``none``: raw logits. (``normalize=True``/``False``, deprecated,
            means ``sigmoid``/``none``.)
        max_length: tokens per (query, passage) pair; None: what the model was set up
            for (its configs, at most 512). The query is kept whole; passages are cut.
        batch_size: pairs per forward pass.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        backend: ``auto`` (default): ``onnx`` when the model runs on the CPU in float32 and
            onnxruntime imports, else ``torch`` (the reason is logged); ``onnx``: ragdrop's
            fp32 export of the model run by ONNX Runtime (CPU; scores within 1e-4 of
            torch), exported on first use into ``onnx_dir``; ``onnx-int8``: that export
            quantised (opt-in: scores differ); ``torch``; ``openvino`` (sentence-transformers'
            backend, needs ``sentence-transformers[openvino]``). See ``benchmarks/rerank.py``.
        precision: ``float32`` (default); ``bfloat16`` (1.2-2.4x faster measured on a CPU
            with AVX512-BF16, Kendall tau 0.98-1.0 vs float32; also for GPUs; slow on
            CPUs without bf16 units); ``float16`` (GPUs); ``int8`` dynamic quantisation
            (CPU, 1.3-2.5x faster but it reorders close candidates: tau 0.66-0.83).
            See ``benchmarks/rerank.py``.
        metadata_mode: which metadata the cross-encoder reads with the text.
        cache_dir: directory of the persistent score cache (None: no cache).
        onnx_dir: folder of the ONNX exports; None: ``$RAGDROP_ONNX_DIR``, else the user's
            cache folder.

    Example:
        >>> reranker = CrossEncoderReranker(model="/models/ms-marco-MiniLM-L-6-v2", top_n=3)
        >>> best = reranker.postprocess_nodes(nodes, query_str="what is BM25?")  # doctest: +SKIP
    """

    model: str = Field(default=DEFAULT_RERANK_MODEL, description="Cross-encoder path or hub id.")
    top_n: Int | None = Field(default=5, ge=1, description="Nodes returned; None = all.")
    score_threshold: Float | None = Field(
        default=None, description="Minimum score kept (after activation); None = keep all."
    )
    activation: Activation = Field(
        default="model",
        description=f"One of {list(ACTIVATIONS)}: the model's own (as CrossEncoder.predict), "
        "sigmoid, or none (raw logits).",
    )
    max_length: Int | None = Field(
        default=None, ge=8, le=8192, description="Tokens per pair; None = the model's own."
    )
    batch_size: Int = Field(default=32, gt=0, le=4096, description="Pairs per forward pass.")
    device: str = Field(default="auto", description="auto, cpu, cuda, cuda:N or mps.")
    backend: Backend = Field(
        default="auto",
        description=f"One of {list(BACKENDS)}; auto: onnx on the CPU when onnxruntime "
        "imports, else torch.",
    )
    precision: Precision = Field(
        default="float32", description=f"One of {list(PRECISIONS)}; all but float32 need torch."
    )
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.EMBED, description="Metadata the cross-encoder reads with the text."
    )
    cache_dir: str | None = Field(default=None, description="Score cache directory; None = off.")
    cache_size_limit: Int = Field(default=2**28, gt=0, description="Score cache bytes on disk.")
    onnx_dir: str | None = Field(
        default=None, description="Folder of ONNX exports; None = the user's cache folder."
    )

    _runner: CrossEncoderRunner | None = PrivateAttr(default=None)
    _cache: Any = PrivateAttr(default=None)
    _built_with: tuple[Any, ...] | None = PrivateAttr(default=None)
    _cache_opened_at: tuple[Any, ...] | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="before")
    @classmethod
    def _accept_normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "normalize" not in data:
            return data
        data = dict(data)
        normalize = data.pop("normalize")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be True or False, got {normalize!r}")
        wanted = "sigmoid" if normalize else "none"
        if data.setdefault("activation", wanted) != wanted:
            raise ValueError(
                f"normalize={normalize!r} contradicts activation={data['activation']!r}; "
                f"pass only activation, one of {list(ACTIVATIONS)}"
            )
        warnings.warn(
            f"normalize= is deprecated; use activation={wanted!r}",
            DeprecationWarning,
            stacklevel=3,
        )
        return data

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE_RE.match(value):
            raise ValueError(
                f"device={value!r} is not allowed; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            )
        return value

    @model_validator(mode="after")
    def _check_precision_backend(self) -> CrossEncoderReranker:
        if self.precision != "float32" and self.backend not in ("torch", "auto"):
            raise ValueError(
                f"precision={self.precision!r} needs backend='torch', got "
                f"backend={self.backend!r}; for a quantised ONNX model use backend='onnx-int8'"
            )
        if self.backend in ONNX_VARIANTS and self.device not in ("auto", "cpu"):
            raise ValueError(
                f"backend={self.backend!r} runs on the CPU, got device={self.device!r}; "
                "use device='cpu' (or 'auto'), or backend='torch' for a GPU"
            )
        return self

    @field_validator("onnx_dir", mode="before")
    @classmethod
    def _onnx_dir_text(cls, value: object) -> object:
        # Kept as text: to_json() (json.dumps of to_dict()) cannot write a Path.
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must be a non-empty path or hub id, got ''")
        return value

    @classmethod
    def class_name(cls) -> str:
        return "RagdropCrossEncoderReranker"

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> Self:
        # A copy shares the runner (the loaded model, rebuilt if a model setting changes)
        # and the open score cache, and gets its own lock.
        return deep_copy_component(self, memo, share=("_runner", "_cache"), fresh=("_lock",))

    # -- lazy state --------------------------------------------------------------------------

    def _runner_settings(self) -> tuple[Any, ...]:
        return (
            self.model,
            self.max_length,
            self.device,
            self.backend,
            self.precision,
            self.onnx_dir,
        )

    def _get_runner(self) -> CrossEncoderRunner:
        """Resolve the model files (no weights loaded yet) and fix max_length, once.

        Changing a model setting on the instance (or in a ``model_copy``) builds a new
        runner rather than scoring with the old model.
        """
        settings = self._runner_settings()
        runner = self._runner
        if runner is None or self._built_with != settings:
            with self._lock:
                if self._runner is None or self._built_with != settings:
                    path = _resolve(self.model)
                    self._runner = build_runner(
                        path,
                        name=self.model,
                        max_length=self.max_length or trained_max_length(path),
                        backend=self.backend,
                        device=self.device,
                        precision=self.precision,
                        onnx_dir=Path(self.onnx_dir) if self.onnx_dir is not None else None,
                        batch_size=self.batch_size,
                    )
                    self._built_with = settings
                runner = self._runner
        runner.batch_size = self.batch_size
        return runner

    def _get_cache(self) -> Any:
        if self.cache_dir is None:
            return None
        cache = self._cache
        if cache is None or self._cache_opened_at != (self.cache_dir, self.cache_size_limit):
            with self._lock:
                if self._cache is None or self._cache_opened_at != (
                    self.cache_dir,
                    self.cache_size_limit,
                ):
                    self._cache = SafeCache(
                        self.cache_dir, namespace=_CACHE_NAMESPACE, size_limit=self.cache_size_limit
                    )
                    self._cache_opened_at = (self.cache_dir, self.cache_size_limit)
                cache = self._cache
        return cache

    def warm_up(self) -> None:
        """Load the model now instead of on the first query."""
        self._get_runner().load()

    @property
    def model_loaded(self) -> bool:
        """Whether the weights are in memory (False until a pair had to be scored)."""
        return self._runner is not None and self._runner.loaded

    @property
    def pairs_scored(self) -> int:
        """(query, passage) pairs this instance ran through the model (not cache hits)."""
        return 0 if self._runner is None else self._runner.pairs_scored

    @property
    def resolved_backend(self) -> str:
        """What runs the model: ``backend``, or what ``auto`` chose (loads no weights)."""
        return self._get_runner().backend

    @property
    def resolved_max_length(self) -> int:
        """Tokens per pair actually used (reads the model's configs, loads no weights)."""
        return self._get_runner().max_length

    # -- scoring -----------------------------------------------------------------------------

    @staticmethod
    def _pair_key(runner: CrossEncoderRunner, query: str, passage: str) -> str:
        return cache_key(
            "rerank",
            version=_CACHE_VERSION,
            model=runner.fingerprint,
            max_length=runner.max_length,
            backend=runner.backend,
            precision=runner.precision,
            query=query,
            passage=passage,
        )

    def _model_activation(self, runner: CrossEncoderRunner, cache: Any) -> str:
        """The model's default activation name; from the cache when the model is not loaded."""
        key = cache_key("rerank-activation", model=runner.fingerprint, backend=runner.backend)
        if cache is not None and not runner.loaded:
            value = cache.get_json(key)
            if isinstance(value, str):
                return value
        name = runner.activation_name
        if cache is not None:
            cache.set_json(key, name)
        return name

    def _activate(self, logits: list[float]) -> list[float]:
        """``logits`` on the scale ``activation`` asks for."""
        if self.activation == "none":
            return list(logits)
        if self.activation == "sigmoid":
            return [sigmoid(x) for x in logits]
        runner = self._get_runner()
        pure = PURE_ACTIVATIONS.get(self._model_activation(runner, self._get_cache()))
        return [pure(x) for x in logits] if pure is not None else runner.activate(logits)

    def _score_distinct(self, query: str, passages: list[str], hashes: list[str]) -> list[float]:
        """Raw logits of distinct passages, from the cache where possible."""
        runner = self._get_runner()
        cache = self._get_cache()
        scores: list[float | None] = [None] * len(passages)
        keys: list[str] = []
        if cache is not None:
            keys = [self._pair_key(runner, query, h) for h in hashes]
            for i, key in enumerate(keys):
                value = cache.get_json(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    scores[i] = float(value)
        missing = [i for i, s in enumerate(scores) if s is None]
        if missing:
            fresh = runner.score(query, [passages[i] for i in missing])
            for i, value in zip(missing, fresh, strict=True):
                scores[i] = value
                if cache is not None:
                    cache.set_json(keys[i], value)
        return [float(s) for s in scores if s is not None]

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None or not query_bundle.query_str.strip():
            raise ValueError(
                "CrossEncoderReranker needs the question: call postprocess_nodes(nodes, "
                "query_str='...') or pass query_bundle=QueryBundle('...'); got "
                f"query_bundle={query_bundle!r}"
            )
        if not nodes:
            return []
        query = query_bundle.query_str
        with (
            stage(Stage.RERANK),
            self.callback_manager.event(
                CBEventType.RERANKING,
                payload={
                    EventPayload.NODES: nodes,
                    EventPayload.MODEL_NAME: self.model,
                    EventPayload.QUERY_STR: query,
                    EventPayload.TOP_K: self.top_n,
                },
            ) as event,
        ):
            texts = [_passage_text(n, self.metadata_mode) for n in nodes]
            hashes = [content_hash(t) for t in texts]
            firsts, slot = unique_positions(hashes)
            distinct = self._score_distinct(
                query, [texts[i] for i in firsts], [hashes[i] for i in firsts]
            )
            logits = [distinct[j] for j in slot]
            scores = self._activate(logits)
            order = rank_indices(scores, self.top_n, self.score_threshold)
            result = [_with_rerank_score(nodes[i], scores[i], logits[i]) for i in order]
            event.on_end(payload={EventPayload.NODES: result})
        return result

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        # The model, the tokenizer and the SQLite cache all block: run the one shared
        # implementation in a worker thread (contextvars, hence stage timings, carry over).
        return await asyncio.to_thread(self._postprocess_nodes, nodes, query_bundle)


def _passage_text(item: NodeWithScore, mode: MetadataMode) -> str:
    """What the cross-encoder reads: text and ``mode`` metadata, minus score provenance."""
    return content_without_scores(item.node, mode)


def _with_rerank_score(item: NodeWithScore, score: float, logit: float) -> NodeWithScore:
    """A copy of ``item`` scored ``score``; the raw logit and retrieval score in its metadata."""
    retrieval = None if item.score is None else float(item.score)
    record = {"score": float(score), "logit": float(logit), "retrieval_score": retrieval}
    return annotate(item, RERANK_KEY, record, float(score))


__all__ = [
    "DEFAULT_RERANK_MODEL",
    "RERANK_MODEL_ENV",
    "CrossEncoderReranker",
    "find_cross_encoder",
]
