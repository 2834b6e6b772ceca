"""The end-to-end pipeline: ingest documents, answer questions with sources and timings."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core import Document, Settings, get_response_synthesizer
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters
from tqdm import tqdm

from ragdrop.cache import CachedEmbedding
from ragdrop.core.locks import DataDirLock
from ragdrop.core.protocols import NotifyingStore, WriteListener
from ragdrop.core.validation import is_int
from ragdrop.observability.health import HealthMonitor, HealthReport
from ragdrop.observability.sources import IndexStats
from ragdrop.observability.stages import Stage, record_stages, stage
from ragdrop.pipeline.answer import answer_sentences, extractive_answer
from ragdrop.pipeline.answer_cache import AnswerCache
from ragdrop.pipeline.components import Components, build_components, build_retriever
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.health import readiness_checks
from ragdrop.pipeline.manifest import IngestManifest, document_hash
from ragdrop.pipeline.rebuild import StagedRebuild
from ragdrop.pipeline.results import IngestReport, RagAnswer, Source
from ragdrop.retrievers import BM25Retriever, HybridRetriever
from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.points import check_metadata_keys

__all__ = ["Components", "IngestReport", "RagAnswer", "RagPipeline", "Source"]


def _llm_configured() -> bool:
    # Settings.llm would resolve (and fail on) LlamaIndex's OpenAI default; only a user's
    # explicit choice counts.
    return getattr(Settings, "_llm", None) is not None


class RagPipeline:
    """Ingest documents into Qdrant and answer questions over them.

    Args:
        config: every setting; the defaults are the best pipeline ragdrop has.
        health_retry_seconds: after a failed model load, `health` retries at most this often.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> docs = [Document(text="Qdrant is a vector database written in Rust.", id_="qdrant")]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     with RagPipeline(PipelineConfig(data_dir=Path(tmp), rerank=False)) as pipeline:
        ...         report = pipeline.ingest(docs)
        ...         answer = pipeline.query("Which language is Qdrant written in?", top_k=1)
        >>> report.added, [source.ref_doc_id for source in answer.sources]
        (1, ['qdrant'])
    """

    def __init__(
        self, config: PipelineConfig | None = None, *, health_retry_seconds: float = 60.0
    ) -> None:
        self.config = config or PipelineConfig()
        self._components: Components | None = None
        self._lock = threading.RLock()
        self._write_listeners: list[WriteListener] = []
        self.answer_cache = AnswerCache(self.config)  # `enabled` switches it off
        self._health = HealthMonitor(
            readiness=readiness_checks(
                self.config,
                lambda: self.components,
                retry_seconds=health_retry_seconds,
                fingerprint=self.fingerprint,
                built=lambda: self._components is not None,
            )
        )

    # -- construction -------------------------------------------------------------------

    @property
    def components(self) -> Components:
        """The built components (built on first access: loads models, opens Qdrant)."""
        with self._lock:
            if self._components is None:
                self._components = self._build(None)
            return self._components

    def _build(self, lock: DataDirLock | None) -> Components:
        parts = build_components(self.config, lock)
        if isinstance(parts.vector_store, NotifyingStore):
            for listener in self._write_listeners:
                parts.vector_store.add_write_listener(listener)
        return parts

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener(WriteEvent)`` after every write to the vector store, including
        stores built after a `close` (metrics count points this way)."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, got {type(listener).__name__}")
        with self._lock:
            if listener not in self._write_listeners:
                self._write_listeners.append(listener)
            store = self._components.vector_store if self._components else None
            if isinstance(store, NotifyingStore):
                store.add_write_listener(listener)

    def remove_write_listener(self, listener: WriteListener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._write_listeners:
                self._write_listeners.remove(listener)
            store = self._components.vector_store if self._components else None
            if isinstance(store, NotifyingStore):
                store.remove_write_listener(listener)

    def fingerprint(self) -> dict[str, Any]:
        """Settings that change stored vectors: a change means re-indexing everything."""
        cfg = self.config
        return {
            "collection": cfg.collection,
            "embed_model": cfg.embed_model,
            "chunking": cfg.chunking,
            "chunk_size": cfg.chunk_size,
            "chunk_overlap": cfg.chunk_overlap,
            "fusion": cfg.fusion,
            "qdrant_engine": cfg.qdrant_engine,
        }

    # -- ingestion ----------------------------------------------------------------------

    def ingest(
        self,
        documents: Sequence[Document],
        progress: bool = False,
        prune: bool = False,
        on_batch: Callable[[int], None] | None = None,
        *,
        warm_answers: bool = True,
    ) -> IngestReport:
        """Index ``documents``; unchanged ones (same content hash) are not re-embedded.

        Args:
            documents: documents with stable ids (the id decides what counts as "the same").
            progress: show a progress bar.
            prune: delete indexed documents that are not in ``documents``.
            on_batch: called with the number of documents finished after each batch.
            warm_answers: also embed the sentences the extractive answer may quote into the
                embedding cache, so that answering reads them instead of running the model
                (``benchmarks/answer_step.py`` prints both times). Costs ingest time; skipped when the cache is off or an LLM writes the answers.

        Interrupting this (Ctrl-C, a crash) is safe: documents are recorded as done only
        after their points are written, and redone (old points deleted first) next time.
        After a settings change every document is re-indexed into a new embedded index,
        switched in only once complete (`ragdrop.pipeline.rebuild`).
        """
        start = time.perf_counter()
        if not isinstance(warm_answers, bool):
            raise TypeError(f"warm_answers must be True or False, got {warm_answers!r}")
        for doc in documents:
            # Checked before anything changes: the store would refuse them only after
            # the document's old points were deleted.
            check_metadata_keys(doc.metadata, f"document {doc.id_!r}")
        cfg = self.config
        parts = self.components
        manifest = IngestManifest(cfg.manifest_path, self.fingerprint())
        report = IngestReport()

        hashes: dict[str, str] = {}
        emptied: list[str] = []
        for doc in documents:
            if not doc.text or not doc.text.strip():
                report.skipped_empty += 1
                if doc.id_ in manifest.documents:
                    emptied.append(doc.id_)  # its old chunks must not keep answering
                continue
            if doc.id_ in hashes:
                raise ValueError(
                    f"documents: duplicate document id {doc.id_!r}; ids must be unique"
                )
            hashes[doc.id_] = document_hash(doc)
        todo = [
            d
            for d in documents
            if d.id_ in hashes and manifest.documents.get(d.id_) != hashes[d.id_]
        ]
        report.unchanged = len(hashes) - len(todo)
        report.updated = sum(1 for d in todo if d.id_ in manifest.documents)
        report.added = len(todo) - report.updated

        staged = None  # with new settings, every document goes into a new index
        if manifest.fingerprint_changed:
            report.rebuilt = True
            # Built aside (a folder, or a collection behind an alias on a server) and
            # switched in whole (ragdrop.pipeline.rebuild).
            staged = StagedRebuild(cfg, parts, self.fingerprint(), self._write_listeners)
            parts, manifest = staged.target, staged.manifest

        stale = sorted(set(manifest.documents) - set(hashes)) if prune else sorted(emptied)
        manifest.forget(stale)
        self._delete_points(parts, stale)
        report.deleted = len(stale)

        bar = None
        if progress and todo:
            bar = tqdm(total=len(todo), unit="doc", desc="Indexing")
        try:
            for i in range(0, len(todo), cfg.ingest_batch_size):
                batch = todo[i : i + cfg.ingest_batch_size]
                report.nodes_written += self._ingest_batch(
                    parts, manifest, batch, hashes, warm_answers
                )
                report.documents.extend(d.id_ for d in batch)
                if bar is not None:
                    bar.update(len(batch))
                if on_batch is not None:
                    on_batch(len(batch))
            if report.changed:
                self._optimize(parts)
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        finally:
            if bar is not None:
                bar.close()
        if staged is not None:
            staged.finish(report.nodes_written)
            self._switch_in(staged)
        report.seconds = time.perf_counter() - start
        return report

    def _switch_in(self, staged: StagedRebuild) -> None:
        """Close the live index (keeping the data dir's lock), switch the rebuilt one in and
        reopen: questions meanwhile answer from the old index, then from the new one."""
        with self._lock:
            parts, self._components = self.components, None
            lock, parts.lock = parts.lock, None
            try:
                if isinstance(parts.vector_store, CachedQdrantVectorStore):
                    parts.vector_store.close()  # its query cache is of the old points
                parts.close()
                staged.switch()
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
            self._components = parts = self._build(lock)
            if isinstance(parts.vector_store, CachedQdrantVectorStore):
                # A cache outside the data dir (Redis) still holds the old points' results.
                parts.vector_store.invalidate_cache()

    def _ingest_batch(
        self,
        parts: Components,
        manifest: IngestManifest,
        batch: Sequence[Document],
        hashes: dict[str, str],
        warm_answers: bool,
    ) -> int:
        ids = [d.id_ for d in batch]
        # Forget first: if we die after deleting points, the manifest must not claim them.
        manifest.forget(ids)
        self._delete_points(parts, ids)
        with stage(Stage.CHUNKING):
            nodes: list[BaseNode] = parts.node_parser.get_nodes_from_documents(list(batch))
        if nodes:
            with stage(Stage.EMBED):
                vectors = parts.embed_model.get_text_embedding_batch(
                    [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
                )
                if warm_answers:
                    self._warm_answers(parts, nodes)
            for node, vector in zip(nodes, vectors, strict=True):
                node.embedding = vector
            with stage(Stage.UPSERT):
                parts.vector_store.add(nodes)
        manifest.record({doc_id: hashes[doc_id] for doc_id in ids})
        return len(nodes)

    @staticmethod
    def _warm_answers(parts: Components, nodes: Sequence[BaseNode]) -> None:
        # Only a cache keeps the vectors until a question needs them; an LLM never reads them.
        embed = parts.embed_model
        if not isinstance(embed, CachedEmbedding) or _llm_configured():
            return
        tokenizer = embed.tokenizer
        embed.get_text_embedding_batch(
            answer_sentences(nodes, tokenizer if callable(tokenizer) else None)
        )

    def _optimize(self, parts: Components) -> None:
        # Qdrant Edge builds its HNSW index only when asked; servers and local mode need not.
        optimize = getattr(parts.client, "optimize", None)
        name = self.config.collection
        if optimize is not None and parts.client.collection_exists(collection_name=name):
            with stage(Stage.OPTIMIZE):
                optimize(name)

    def _delete_points(self, parts: Components, ref_doc_ids: Sequence[str]) -> None:
        # A first ingestion has no collection yet, and some stores raise on deleting from one.
        if ref_doc_ids and parts.client.collection_exists(collection_name=self.config.collection):
            for doc_id in ref_doc_ids:
                parts.vector_store.delete(doc_id)

    def delete_document(self, ref_doc_id: str) -> None:
        """Remove a document and all of its chunks."""
        parts = self.components
        manifest = IngestManifest(self.config.manifest_path, self.fingerprint())
        manifest.forget([ref_doc_id])
        self._delete_points(parts, [ref_doc_id])

    def indexed_documents(self) -> dict[str, str]:
        """Ids and content hashes of the fully indexed documents."""
        return dict(IngestManifest(self.config.manifest_path, self.fingerprint()).documents)

    # -- questions ----------------------------------------------------------------------

    def _retriever_for(self, filters: MetadataFilters | None, top_k: int) -> BaseRetriever:
        parts = self.components
        depth = max(self.config.fused_candidates, top_k)
        if filters is None and depth == self.config.fused_candidates:
            return parts.retriever
        # A question asking for more passages than the usual depth reads that many.
        return build_retriever(
            self.config, parts.index, parts.vector_store, parts.embed_model, filters, depth
        )

    def _check_question(self, question: str, top_k: int | None) -> int:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        k = self.config.top_k if top_k is None else top_k
        if not is_int(k) or not 1 <= k <= 1000:
            raise ValueError(f"top_k must be an integer from 1 to 1000, got {top_k!r}")
        return k

    def _synthesize(
        self, question: str, nodes: list[NodeWithScore], top_k: int
    ) -> tuple[list[NodeWithScore], str]:
        nodes = nodes[:top_k]
        with stage(Stage.SYNTHESIZE):
            if _llm_configured():
                synth = get_response_synthesizer(llm=Settings.llm)
                return nodes, str(synth.synthesize(question, nodes=nodes))
            return nodes, extractive_answer(question, nodes, self.components.embed_model)

    @staticmethod
    def _answer(
        question: str,
        nodes: list[NodeWithScore],
        text: str,
        times: dict[str, float],
        started: float,
    ) -> RagAnswer:
        times["total"] = time.perf_counter() - started
        return RagAnswer(
            question=question,
            answer=text,
            sources=[Source.from_node(n) for n in nodes],
            timings={k: round(v, 6) for k, v in times.items()},
            mode="llm" if _llm_configured() else "extractive",
        )

    def query(
        self, question: str, top_k: int | None = None, filters: MetadataFilters | None = None
    ) -> RagAnswer:
        """Answer ``question`` from the index, with sources and per-stage timings.

        With the cache on, an extractive answer is kept under the store's write epoch
        (`ragdrop.pipeline.answer_cache`): the same question again, before any write, is
        answered from it (``timings`` then holds ``cache`` and ``total``).
        """
        k = self._check_question(question, top_k)
        parts = self.components
        started = time.perf_counter()
        store = None if _llm_configured() else self.answer_cache.store_of(parts)
        epoch = None if store is None else store.cache_epoch()
        found = self.answer_cache.lookup(parts, epoch, question, k, filters, started)
        if isinstance(found, RagAnswer):
            return found
        with record_stages() as times:
            bundle = QueryBundle(question)
            with stage(Stage.RETRIEVE):
                nodes = self._retriever_for(filters, k).retrieve(bundle)
            for post in parts.postprocessors:
                with stage(Stage.POSTPROCESS):
                    nodes = post.postprocess_nodes(nodes, query_bundle=bundle)
            nodes, text = self._synthesize(question, nodes, k)
        return self.answer_cache.keep(
            parts, found, self._answer(question, nodes, text, times, started)
        )

    async def aquery(
        self, question: str, top_k: int | None = None, filters: MetadataFilters | None = None
    ) -> RagAnswer:
        """Async twin of `query`: the same steps, awaiting the retriever and postprocessors."""
        k = self._check_question(question, top_k)
        parts = await asyncio.to_thread(lambda: self.components)
        started = time.perf_counter()
        store = None if _llm_configured() else self.answer_cache.store_of(parts)
        epoch = None if store is None else await store.acache_epoch()
        found = self.answer_cache.lookup(parts, epoch, question, k, filters, started)
        if isinstance(found, RagAnswer):
            return found
        with record_stages() as times:
            bundle = QueryBundle(question)
            with stage(Stage.RETRIEVE):
                nodes = await self._retriever_for(filters, k).aretrieve(bundle)
            for post in parts.postprocessors:
                with stage(Stage.POSTPROCESS):
                    nodes = await post.apostprocess_nodes(nodes, query_bundle=bundle)
            nodes, text = await asyncio.to_thread(self._synthesize, question, nodes, k)
        return self.answer_cache.keep(
            parts, found, self._answer(question, nodes, text, times, started)
        )

    # -- operations ---------------------------------------------------------------------

    def health(self) -> HealthReport:
        """Readiness of what questions read: the data dir (never created here), the manifest,
        the cache dir, Qdrant, the models, the collection (vector size, points against the
        manifest) and the BM25 state (see `ragdrop.pipeline.health`).

        The first call builds the components and loads the models; later calls never reload
        them (a failed load is retried at most every ``health_retry_seconds``).
        """
        return self._health.ready()

    @property
    def health_monitor(self) -> HealthMonitor:
        """The monitor behind `health` (its checks, by name, under ``readiness``)."""
        return self._health

    def index_stats(self) -> IndexStats:
        """Sizes of the BM25 index, if one is built; builds nothing (metrics read it)."""
        parts = self._components
        retriever = parts.retriever if parts is not None else None
        bm25 = retriever.bm25 if isinstance(retriever, HybridRetriever) else retriever
        if not isinstance(bm25, BM25Retriever):
            return IndexStats()
        return IndexStats(bm25_documents=len(bm25.index), bm25_terms=bm25.index.n_terms)

    def close(self) -> None:
        """Close Qdrant and release the data dir's writer lock (built again on next use)."""
        with self._lock:
            if self._components is not None:
                parts, self._components = self._components, None
                parts.close()

    def __enter__(self) -> RagPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
