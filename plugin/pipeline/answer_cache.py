"""Whole extractive answers cached under the store's write epoch (issue 16, item 6).

The hybrid retriever already caches its fused result (`ragdrop.retrievers.result_cache`),
but a repeated question still paid LlamaIndex's retrieve wrapper, the reranker's cache
lookups and the answer step. `AnswerCache` keeps the finished `RagAnswer` (sources and
answer text, not the timings) in the store's query cache, keyed on:

* the store's cache epoch (`CachedQdrantVectorStore.cache_epoch`): any write through any
  store sharing the cache directory, any writer on the same client, or a point count the
  freshness check finds changed starts a new epoch, so an answer computed before a write is
  never served after it (the same rule as every query result);
* the BM25 index's `BM25Index.generation` (this index object and its change count), which
  can change outside the store: with BM25 in the retriever, entries are this process's own;
* the question, ``top_k``, the filters, every pipeline setting (the credentials left out)
  and the postprocessors' settings.

Only extractive answers are cached: they are a function of the passages and the question.
An answer written by an LLM is not (and a user configuring one expects it to be asked).

Values are JSON (`RagAnswer.to_dict` without the timings), never pickles; an entry that
cannot be read back is a miss. A hit builds a new `RagAnswer` whose sources share nothing
mutable with the cached one or with another hit's.

Example:
    >>> cache = AnswerCache(config)  # doctest: +SKIP
    >>> key = cache.key(parts, epoch, "what is BM25?", 5, None)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.cache.node_copies import copy_json
from ragdrop.cache.query_cache import QueryResultCache
from ragdrop.observability.stages import record_count
from ragdrop.pipeline.results import RagAnswer, Source
from ragdrop.retrievers import BM25Retriever, HybridRetriever
from ragdrop.vector_stores import CachedQdrantVectorStore

if TYPE_CHECKING:
    from ragdrop.pipeline.components import Components
    from ragdrop.pipeline.config import PipelineConfig

# The cache-event label of these entries (`RagdropMetrics`: ragdrop_cache_events_total).
CACHE_LABEL = "answer"
VALUE_VERSION = 1
_SOURCE_FIELDS = frozenset({"node_id", "ref_doc_id", "score", "text", "metadata", "scores"})
# Settings that never change an answer (credentials must not even be hashed into a key).
_NOT_KEYED = frozenset({"qdrant_api_key", "cache_url", "ingest_batch_size"})


@dataclass(frozen=True)
class Pending:
    """A miss: where its answer goes once computed, and the state it was computed in."""

    key: str
    epoch: str
    bm25_generation: str | None


class AnswerCache:
    """Extractive answers of one pipeline, cached in its store's query cache.

    Args:
        config: the pipeline's settings (part of every key).

    Attributes:
        enabled: look answers up and keep them (True); set False to answer every question
            afresh (the query cache and the fused-result cache still work underneath).
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.enabled = True  # False: every question is answered afresh (and not kept)
        # Per built components: their settings as key data (a pydantic dump per question
        # would cost more than the hit).
        self._settings: tuple[Components, dict[str, object]] | None = None

    @staticmethod
    def store_of(parts: Components) -> CachedQdrantVectorStore | None:
        """The store whose epochs key the answers; None when answers are not cached."""
        store = parts.vector_store
        if not isinstance(store, CachedQdrantVectorStore) or store.query_cache is None:
            return None
        return store

    def key(
        self,
        parts: Components,
        epoch: str,
        question: str,
        top_k: int,
        filters: MetadataFilters | None,
    ) -> str:
        """The key of this question's answer in ``epoch``."""
        return QueryResultCache.key(
            epoch,
            kind="rag-answer",
            version=VALUE_VERSION,
            settings=self._settings_of(parts),
            bm25=bm25_generation(parts),
            question=question,
            top_k=top_k,
            filters=None if filters is None else filters.model_dump(mode="json"),
        )

    def lookup(
        self,
        parts: Components,
        epoch: str | None,
        question: str,
        top_k: int,
        filters: MetadataFilters | None,
        started: float,
    ) -> RagAnswer | Pending | None:
        """The cached answer (its timings: ``cache`` and ``total`` since ``started``, a
        ``time.perf_counter()``); else the `Pending` to `keep` the new one under; None when
        answers are not cached (``epoch`` None: no cache, or an LLM writes them)."""
        if epoch is None or not self.enabled:
            return None
        key = self.key(parts, epoch, question, top_k, filters)
        hit = self.get(parts, key)
        record_count("cache_hit" if hit is not None else "cache_miss", label=CACHE_LABEL)
        if hit is None:
            return Pending(key, epoch, bm25_generation(parts))
        spent = round(time.perf_counter() - started, 6)
        hit.timings = {"cache": spent, "total": spent}
        return hit

    def keep(
        self, parts: Components, pending: RagAnswer | Pending | None, answer: RagAnswer
    ) -> RagAnswer:
        """``answer``, cached first when ``pending`` (from `lookup`) says where."""
        if isinstance(pending, Pending):
            self.put(parts, pending.key, pending.epoch, pending.bm25_generation, answer)
        return answer

    def get(self, parts: Components, key: str) -> RagAnswer | None:
        """A new copy of the cached answer under ``key`` (timings empty), or None."""
        store = self.store_of(parts)
        cache = None if store is None else store.query_cache
        template = None if cache is None else cache.get_decoded(key, answer_from_json)
        if template is None:
            return None
        return RagAnswer(
            question=template.question,
            answer=template.answer,
            sources=[_copy_source(s) for s in template.sources],
            timings={},
            mode=template.mode,
        )

    def put(
        self, parts: Components, key: str, epoch: str, generation: str | None, answer: RagAnswer
    ) -> bool:
        """Cache ``answer`` if its epoch is still current and BM25 did not change while it
        was computed (``generation``: `bm25_generation` before); True if stored."""
        store = self.store_of(parts)
        if store is None or answer.mode != "extractive" or bm25_generation(parts) != generation:
            return False
        return store.cache_result(key, answer_to_json(answer), epoch)

    def _settings_of(self, parts: Components) -> dict[str, object]:
        memo = self._settings
        if memo is None or memo[0] is not parts:
            dumped = self.config.model_dump(mode="json", exclude=set(_NOT_KEYED))
            dumped["postprocessors"] = [_postprocessor_id(p) for p in parts.postprocessors]
            dumped["retriever"] = type(parts.retriever).__name__
            memo = self._settings = (parts, dumped)
        return memo[1]


def bm25_generation(parts: Components) -> str | None:
    """The generation of the BM25 index the pipeline's retriever reads (None: no BM25)."""
    retriever = parts.retriever
    bm25 = retriever.bm25 if isinstance(retriever, HybridRetriever) else retriever
    return bm25.index.generation if isinstance(bm25, BM25Retriever) else None


def _postprocessor_id(post: BaseNodePostprocessor) -> object:
    """A postprocessor's class and settings (its pydantic fields as JSON)."""
    fields: object
    try:
        fields = post.model_dump(mode="json")
    except (TypeError, ValueError):
        fields = repr(post)
    return {"class": f"{type(post).__module__}.{type(post).__qualname__}", "fields": fields}


def answer_to_json(answer: RagAnswer) -> dict[str, object]:
    """``answer`` as JSON data, without its timings."""
    data = asdict(answer)
    data.pop("timings")
    data["version"] = VALUE_VERSION
    return data


def answer_from_json(value: object) -> RagAnswer | None:
    """The answer in `answer_to_json` data (a template: copy before handing out); None (a
    miss) for anything else."""
    if not isinstance(value, dict) or value.get("version") != VALUE_VERSION:
        return None
    question, text, mode = value.get("question"), value.get("answer"), value.get("mode")
    sources = value.get("sources")
    if not (isinstance(question, str) and isinstance(text, str) and isinstance(mode, str)):
        return None
    if not isinstance(sources, list):
        return None
    read = []
    for source in sources:
        if not isinstance(source, dict) or source.keys() != _SOURCE_FIELDS:
            return None
        ok = (
            isinstance(source["node_id"], str)
            and (source["ref_doc_id"] is None or isinstance(source["ref_doc_id"], str))
            and isinstance(source["score"], int | float)
            and not isinstance(source["score"], bool)
            and isinstance(source["text"], str)
            and isinstance(source["metadata"], dict)
            and isinstance(source["scores"], dict)
        )
        if not ok:
            return None
        read.append(Source(**source))
    return RagAnswer(question=question, answer=text, sources=read, timings={}, mode=mode)


def _copy_source(source: Source) -> Source:
    return Source(
        node_id=source.node_id,
        ref_doc_id=source.ref_doc_id,
        score=source.score,
        text=source.text,
        metadata=copy_json(source.metadata),
        scores=copy_json(source.scores),
    )


__all__ = [
    "CACHE_LABEL",
    "AnswerCache",
    "Pending",
    "answer_from_json",
    "answer_to_json",
    "bm25_generation",
]
