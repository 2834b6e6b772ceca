"""Run named retrieval systems over a BEIR dataset on shared embeddings and score them."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from tqdm import tqdm

from ragdrop.evaluation.beir import BeirDataset
from ragdrop.evaluation.embedding_cache import EmbeddingCache
from ragdrop.evaluation.metrics import evaluate_rankings, latency_summary, ndcg_at_k
from ragdrop.evaluation.systems import EvalContext, EvalSystem, SystemUnavailable

# Not "doc_id": LlamaIndex and Qdrant stores write their own "doc_id" into payloads.
DOC_ID_KEY = "beir_doc_id"
_NODE_NAMESPACE = uuid.UUID("5a0f3c1e-7d1b-4c55-9a59-0e8e3f7b9d21")
_EMBED_BATCH = 256


@dataclass
class EvalSettings:
    """Knobs of one evaluation run.

    Args:
        top_k: documents ranked per query (Recall@k uses this depth).
        candidates: per-side depth of hybrid systems before fusion.
        chunking: split long documents into chunks; a document scores its best chunk.
        chunk_size: tokens per chunk (None = the embedding model's window).
        chunk_overlap: tokens shared by neighbouring chunks.
        rerank_model: cross-encoder path or cached hub id (None = auto-detect).
        rerank_depth: hybrid candidates the cross-encoder rescored.
        cache_dir: where document embeddings persist between runs (None = no cache).
        progress: show progress bars on stderr.
    """

    top_k: int = 100
    candidates: int = 100
    chunking: bool = False
    chunk_size: int | None = None
    chunk_overlap: int = 32
    rerank_model: str | None = None
    rerank_depth: int = 30
    cache_dir: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("top_k", "candidates", "rerank_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.chunk_size is not None and self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int or None, got {self.chunk_size!r}")
        if self.chunk_overlap < 0:
            raise ValueError(f"chunk_overlap must be >= 0, got {self.chunk_overlap!r}")


@dataclass
class SystemResult:
    """Scores and speed of one system (or why it was skipped)."""

    name: str
    label: str
    baseline: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    build_seconds: float = 0.0
    per_query_ndcg: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "baseline": self.baseline,
            "metrics": self.metrics,
            "latency": self.latency,
            "build_seconds": self.build_seconds,
            "skipped": self.skipped,
            "per_query_ndcg@10": self.per_query_ndcg,
        }


@dataclass
class EvalReport:
    """Everything one run measured; `ragdrop.evaluation.report` renders it."""

    dataset: str
    num_documents: int
    num_units: int
    num_queries: int
    settings: dict[str, Any]
    embedding: dict[str, Any]
    results: list[SystemResult]

    def result(self, name: str) -> SystemResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no system named {name!r}; have {[r.name for r in self.results]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "num_documents": self.num_documents,
            "num_units": self.num_units,
            "num_queries": self.num_queries,
            "settings": self.settings,
            "embedding": self.embedding,
            "results": [r.to_dict() for r in self.results],
        }


def embedding_model_id(embed_model: BaseEmbedding) -> dict[str, Any]:
    """What identifies the vectors a model produces (the embedding cache key)."""
    identity: dict[str, Any] = {
        "class": type(embed_model).__name__,
        "model_name": getattr(embed_model, "model_name", None),
    }
    for attr in ("normalize", "max_seq_length"):
        if hasattr(embed_model, attr):
            identity[attr] = getattr(embed_model, attr)
    return identity


def build_units(
    dataset: BeirDataset, embed_model: BaseEmbedding, settings: EvalSettings
) -> list[tuple[str, str]]:
    """``(doc_id, text)`` per indexed unit: one per document, or one per chunk."""
    docs = [(doc.doc_id, doc.full_text) for doc in dataset.corpus.values()]
    if not settings.chunking:
        return docs
    tokenizer = getattr(embed_model, "tokenizer", None)
    window = getattr(embed_model, "max_seq_length", 256)
    size = settings.chunk_size or max(window - 2, 16)  # [CLS] and [SEP] share the window
    kwargs: dict[str, Any] = {
        "chunk_size": size,
        "chunk_overlap": min(settings.chunk_overlap, size // 2),
    }
    if tokenizer is not None:
        kwargs["tokenizer"] = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    splitter = SentenceSplitter(**kwargs)
    units: list[tuple[str, str]] = []
    for doc_id, text in docs:
        chunks = splitter.split_text(text) if text.strip() else []
        units.extend((doc_id, chunk) for chunk in chunks or [text])
    return units


def _embed_in_batches(
    embed_model: BaseEmbedding, texts: Sequence[str], progress: bool, what: str
) -> np.ndarray:
    out: list[list[float]] = []
    with tqdm(
        total=len(texts), desc=f"embed {what}", unit="text", disable=not progress, file=sys.stderr
    ) as bar:
        for start in range(0, len(texts), _EMBED_BATCH):
            batch = list(texts[start : start + _EMBED_BATCH])
            out.extend(embed_model.get_text_embedding_batch(batch))
            bar.update(len(batch))
    return np.asarray(out, dtype=np.float32)


def embed_units(
    units: Sequence[tuple[str, str]], embed_model: BaseEmbedding, settings: EvalSettings
) -> tuple[np.ndarray, bool]:
    """Vectors of every unit's text, from the on-disk cache when it has them."""
    texts = [text for _, text in units]

    def embed(batch: Sequence[str]) -> np.ndarray:
        return _embed_in_batches(embed_model, batch, settings.progress, "corpus")

    if settings.cache_dir is None:
        return embed(texts), False
    cache = EmbeddingCache(settings.cache_dir)
    return cache.get_or_compute(embedding_model_id(embed_model), texts, embed)


def make_nodes(units: Sequence[tuple[str, str]], vectors: np.ndarray) -> list[TextNode]:
    """One `TextNode` per unit with its vector, the BEIR id as ``ref_doc_id`` and in metadata."""
    nodes = []
    for position, ((doc_id, text), vector) in enumerate(zip(units, vectors, strict=True)):
        nodes.append(
            TextNode(
                # Qdrant point ids must be UUIDs or integers; BEIR ids are arbitrary strings.
                id_=str(uuid.uuid5(_NODE_NAMESPACE, f"{position}:{doc_id}")),
                text=text,
                metadata={DOC_ID_KEY: doc_id},
                excluded_embed_metadata_keys=[DOC_ID_KEY],
                excluded_llm_metadata_keys=[DOC_ID_KEY],
                embedding=vector.tolist(),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc_id)},
            )
        )
    return nodes


def document_ranking(nodes: Sequence[NodeWithScore], top_k: int) -> list[str]:
    """Document ids best first; a document's place is that of its best chunk (max-pooling).

    Systems return nodes sorted by descending score, so the first chunk seen of a document is
    its highest-scoring one.
    """
    ranking: list[str] = []
    seen: set[str] = set()
    for item in nodes:
        doc_id = item.node.metadata.get(DOC_ID_KEY)
        if doc_id is None or doc_id in seen:
            continue
        seen.add(doc_id)
        ranking.append(str(doc_id))
        if len(ranking) == top_k:
            break
    return ranking


def evaluate_system(
    system: EvalSystem,
    context: EvalContext,
    dataset: BeirDataset,
    query_bundles: dict[str, QueryBundle],
    settings: EvalSettings,
    ndcg_k: int = 10,
) -> SystemResult:
    """Build one system, run every query through it and score the rankings."""
    result = SystemResult(name=system.name, label=system.label, baseline=system.baseline)
    started = time.perf_counter()
    try:
        search = system.build(context)
    except SystemUnavailable as exc:
        result.skipped = str(exc)
        return result
    result.build_seconds = time.perf_counter() - started
    if query_bundles:
        # One untimed query first, for every system alike: lazy set-up (thread pools, caches
        # of the first words seen) is not per-query latency.
        search(next(iter(query_bundles.values())))

    rankings: dict[str, list[str]] = {}
    seconds: list[float] = []
    for qid, bundle in tqdm(
        query_bundles.items(),
        desc=system.name,
        unit="q",
        disable=not settings.progress,
        file=sys.stderr,
    ):
        start = time.perf_counter()
        nodes = search(bundle)
        seconds.append(time.perf_counter() - start)
        rankings[qid] = document_ranking(nodes, settings.top_k)
    result.metrics = evaluate_rankings(
        rankings, dataset.qrels, ndcg_k=ndcg_k, recall_k=settings.top_k
    )
    result.latency = latency_summary(seconds)
    result.per_query_ndcg = {
        qid: round(ndcg_at_k(rankings[qid], dataset.qrels[qid], ndcg_k), 6) for qid in rankings
    }
    return result


def run_evaluation(
    dataset: BeirDataset,
    systems: Sequence[EvalSystem],
    embed_model: BaseEmbedding,
    settings: EvalSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalReport:
    """Evaluate ``systems`` on ``dataset`` with shared document and query embeddings.

    Args:
        dataset: a loaded BEIR dataset (judged queries only).
        systems: what to compare (see `ragdrop.evaluation.systems.default_systems`).
        embed_model: embeds the corpus (cached on disk) and the queries (once, shared).
        settings: run options.
        log: receives one line per step (e.g. ``print``); None = silent.

    Example:
        >>> report = run_evaluation(load_beir("scifact"), default_systems(), embed)  # doctest: +SKIP
        >>> report.result("dense").metrics["ndcg@10"]  # doctest: +SKIP
    """
    settings = settings or EvalSettings()
    say = log or (lambda _line: None)
    if not systems:
        raise ValueError("systems must name at least one system")
    if not dataset.queries:
        raise ValueError(f"dataset {dataset.name!r} has no judged queries")

    units = build_units(dataset, embed_model, settings)
    started = time.perf_counter()
    vectors, hit = embed_units(units, embed_model, settings)
    corpus_seconds = time.perf_counter() - started
    say(
        f"{dataset.name}: {len(dataset.corpus)} documents, {len(units)} units, "
        f"{len(dataset.queries)} judged queries; corpus embeddings "
        + ("from cache" if hit else f"computed in {corpus_seconds:.1f} s")
    )
    nodes = make_nodes(units, vectors)

    query_ids = list(dataset.queries)
    per_query: list[float] = []
    query_vectors: list[list[float]] = []
    for qid in query_ids:
        start = time.perf_counter()
        query_vectors.append(embed_model.get_query_embedding(dataset.queries[qid]))
        per_query.append(time.perf_counter() - start)
    bundles = {
        qid: QueryBundle(query_str=dataset.queries[qid], embedding=vector)
        for qid, vector in zip(query_ids, query_vectors, strict=True)
    }

    depth = settings.top_k
    if settings.chunking:
        # Several chunks of one document can fill the top; look deeper to rank top_k documents.
        depth = int(np.ceil(settings.top_k * len(units) / max(len(dataset.corpus), 1))) + 10
    context = EvalContext(
        nodes=nodes,
        embed_model=embed_model,
        top_k=depth,
        candidates=max(settings.candidates, depth),
        rerank_model=settings.rerank_model,
        rerank_depth=settings.rerank_depth,
    )
    results = []
    try:
        for system in systems:
            result = evaluate_system(system, context, dataset, bundles, settings)
            if result.skipped:
                say(f"  {system.name}: skipped ({result.skipped})")
            else:
                say(
                    f"  {system.name}: nDCG@10 {result.metrics['ndcg@10']:.4f}, "
                    f"p50 {result.latency['p50_ms']:.1f} ms"
                )
            results.append(result)
    finally:
        context.close()
    return EvalReport(
        dataset=dataset.name,
        num_documents=len(dataset.corpus),
        num_units=len(units),
        num_queries=len(dataset.queries),
        settings={
            "top_k": settings.top_k,
            "candidates": context.candidates,
            "chunking": settings.chunking,
            "chunk_size": settings.chunk_size,
            "chunk_overlap": settings.chunk_overlap,
            "rerank_depth": settings.rerank_depth,
        },
        embedding={
            "model": embedding_model_id(embed_model),
            "corpus_from_cache": hit,
            "corpus_seconds": corpus_seconds,
            "query_latency": latency_summary(per_query),
        },
        results=results,
    )
