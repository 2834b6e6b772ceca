"""`HybridRetriever`'s fused results cached under its store's write epoch.

The vector store caches its own queries, but the hybrid's default plan
(`fusion_plans.point_rrf`) asks Qdrant for point ids directly, so a repeated question paid
the query embedding, both searches, the feedback pass and the fusion again (issue 16, item
6). `FusedResultCache` keys the final list (after the feedback pass) on:

* the store's cache epoch (`CachedQdrantVectorStore.cache_epoch`): any write through any
  store sharing the cache directory (and whatever else the store counts as a write) starts a
  new one, so a result computed before a write is never served after it;
* the BM25 index's `BM25Index.generation` (this index object and its change count): BM25
  can change outside the store (``insert``, ``delete_nodes``, a reload), so its entries
  are this process's own;
* the question (text, and its embedding when the caller gave one) and every setting that
  changes the result: depths, weights, fusion, feedback, filters, BM25 and embedding model
  settings.

Values are JSON (LlamaIndex's node JSON and the score), never pickles; an entry that cannot
be read back is a miss. The query cache keeps the entry decoded in memory
(`QueryResultCache.get_decoded`): the nodes rebuilt once by LlamaIndex's own ``json_to_doc``
serve as templates, and every hit hands out `fresh_copy` copies of them, which share nothing
mutable with the templates or with another hit's nodes. A hit skips the query embedding and
both searches: it costs the epoch read and the copies (a read from disk and the rebuild
when the entry is not held in this process).

Example:
    >>> cache = FusedResultCache(store)  # doctest: +SKIP
    >>> results = run_sync(cache.plan(retriever, "point_rrf", bundle, None, compute), None)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.cache import model_identity
from ragdrop.cache.node_copies import fresh_copy
from ragdrop.observability.stages import Stage, record_count, stage
from ragdrop.retrievers.plans import Io, Plan

if TYPE_CHECKING:
    from ragdrop.retrievers.fusion_plans import FusionSettings
    from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore

# The cache-event label of these entries (`RagdropMetrics`: ragdrop_cache_events_total).
CACHE_LABEL = "fused"
VALUE_VERSION = 1


class FusedResultCache:
    """Fused hybrid results of one store's collection, cached in the store's query cache.

    Args:
        store: the ragdrop store the vector side searches; results are cached only while it
            has a query cache (``cache_dir`` or ``cache_url``), under its epochs.

    Example:
        >>> cache = FusedResultCache(store)  # doctest: +SKIP
        >>> cache.enabled  # doctest: +SKIP
        True
    """

    def __init__(self, store: CachedQdrantVectorStore) -> None:
        self.store = store
        # The last embedding model keyed and its identity (a pydantic dump per question would be waste).
        self._model: tuple[BaseEmbedding, str] | None = None

    @property
    def enabled(self) -> bool:
        """Whether results are cached (the store has a query cache)."""
        return self.store.cache_dir is not None or self.store.cache_url is not None

    def plan(
        self,
        r: FusionSettings,
        plan_name: str,
        query: QueryBundle,
        filters: MetadataFilters | None,
        compute: Callable[[], Plan],
    ) -> Plan:
        """The result of ``compute()`` (the retriever's plan), from cache when it holds it."""
        cache = self.store.query_cache
        if cache is None or (query.embedding is None and r.embed_model is None):
            # Without the retriever's model the index's own retriever embeds: not keyed.
            return (yield from compute())
        epoch = yield Io(self.store.cache_epoch, self.store.acache_epoch, stage=Stage.CACHE)
        if not isinstance(epoch, str):
            return (yield from compute())
        generation = r.bm25.index.generation if r.bm25 is not None else None
        with stage(Stage.CACHE):
            key = cache.key(epoch, **self.key_fields(r, plan_name, query, filters, generation))
            templates = cache.get_decoded(key, templates_from_json)
            hit = None if templates is None else [fresh_copy(t) for t in templates]
        record_count("cache_hit" if hit is not None else "cache_miss", label=CACHE_LABEL)
        if hit is not None:
            return hit
        results: list[NodeWithScore] = yield from compute()
        current = r.bm25.index.generation if r.bm25 is not None else None
        if current == generation:  # BM25 changed meanwhile: the key no longer describes it
            with stage(Stage.CACHE):
                value = nodes_to_json(results)
                if value is not None:
                    self.store.cache_result(key, value, epoch)
        return results

    def key_fields(
        self,
        r: FusionSettings,
        plan_name: str,
        query: QueryBundle,
        filters: MetadataFilters | None,
        bm25_generation: str | None,
    ) -> dict[str, object]:
        """Everything besides the epoch that changes the fused result."""
        bm25 = r.bm25
        feedback = r.feedback
        return {
            "kind": "hybrid-fused",
            "plan": plan_name,
            "collection": self.store.collection_name,
            "query": query.query_str,
            "embedding_strs": query.custom_embedding_strs,
            "embedding": query.embedding,
            "embed_model": self.model_id(r.embed_model) if query.embedding is None else None,
            "top_k": [r.similarity_top_k, r.bm25_candidates, r.vector_candidates],
            "weights": list(r.weights),
            "fusion": [r.fusion_method, r.rrf_k],
            "feedback": None if feedback is None else feedback.model_dump(mode="json"),
            "filters": None if filters is None else filters.model_dump(mode="json"),
            "bm25": None
            if bm25 is None
            else {
                "generation": bm25_generation,
                "index": bm25.index.config(),
                "filters": None if bm25.filters is None else bm25.filters.model_dump(mode="json"),
                "metadata_mode": str(bm25.metadata_mode.value),
            },
        }

    def model_id(self, model: BaseEmbedding | None) -> str | None:
        """The embedding model's identity (class, name, every output-changing setting)."""
        if model is None:
            return None
        memo = self._model
        if memo is None or memo[0] is not model:
            memo = self._model = (model, model_identity(model))
        return memo[1]


def nodes_to_json(results: list[NodeWithScore]) -> dict[str, object] | None:
    """``results`` as JSON data (node JSON and score); None when a node is not JSON."""
    try:
        hits = [{"node": doc_to_json(r.node), "score": r.score} for r in results]
    except (TypeError, ValueError):
        return None
    return {"version": VALUE_VERSION, "hits": hits}


def templates_from_json(value: object) -> tuple[NodeWithScore, ...] | None:
    """The results in `nodes_to_json` data, to copy from (`fresh_copy`), never to hand out;
    None (a miss) for anything else."""
    nodes = nodes_from_json(value)
    return None if nodes is None else tuple(nodes)


def nodes_from_json(value: object) -> list[NodeWithScore] | None:
    """New nodes from `nodes_to_json` data; None (a miss) for anything else."""
    if not isinstance(value, dict) or value.get("version") != VALUE_VERSION:
        return None
    hits = value.get("hits")
    if not isinstance(hits, list):
        return None
    out = []
    try:
        for hit in hits:
            score = hit["score"]
            if score is not None and (
                isinstance(score, bool) or not isinstance(score, float | int)
            ):
                return None
            out.append(NodeWithScore(node=json_to_doc(hit["node"]), score=score))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return out


__all__ = [
    "CACHE_LABEL",
    "FusedResultCache",
    "nodes_from_json",
    "nodes_to_json",
    "templates_from_json",
]
