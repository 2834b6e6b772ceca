"""The end-to-end pipeline: ingest documents, answer questions with sources and timings."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import NodeParser
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import BasePydanticVectorStore, MetadataFilters
from ragdrop.observability.stages import record_stages, stage
from ragdrop.pipeline import components
from ragdrop.pipeline.answer import extractive_answer
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.manifest import IngestManifest, document_hash

# Metadata keys that carry per-stage scores rather than document metadata.
_SCORE_KEYS = ("fusion", "rerank")


@dataclass
class Source:
    """One passage behind an answer."""

    node_id: str
    ref_doc_id: str | None
    score: float
    text: str
    metadata: dict[str, Any]
    scores: dict[str, Any]


@dataclass
class RagAnswer:
    """An answer, the passages it came from, and the seconds spent per stage."""

    question: str
    answer: str
    sources: list[Source]
    timings: dict[str, float]
    mode: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


@dataclass
class IngestReport:
    """What an ingestion changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped_empty: int = 0
    nodes_written: int = 0
    seconds: float = 0.0
    rebuilt: bool = False
    documents: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.deleted


@dataclass
class Components:
    """The built parts of a pipeline."""

    embed_model: BaseEmbedding
    node_parser: NodeParser
    client: Any
    vector_store: BasePydanticVectorStore
    index: VectorStoreIndex
    retriever: BaseRetriever
    postprocessors: list[BaseNodePostprocessor]
    rerank_status: str


def _to_source(item: NodeWithScore) -> Source:
    node = item.node
    metadata = dict(node.metadata)
    scores: dict[str, Any] = {"final": float(item.score) if item.score is not None else None}
    for key in _SCORE_KEYS:
        if key in metadata:
            scores[key] = metadata.pop(key)
    return Source(
        node_id=node.node_id,
        ref_doc_id=node.ref_doc_id,
        score=scores["final"] if scores["final"] is not None else 0.0,
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        metadata=metadata,
        scores=scores,
    )


def _llm_configured() -> bool:
    # Settings.llm would resolve (and fail on) LlamaIndex's OpenAI default; only a user's
    # explicit choice counts.
    return getattr(Settings, "_llm", None) is not None


class RagPipeline:
    """Ingest documents into Qdrant and answer questions over them.

    Args:
        config: every setting; the defaults are the best pipeline ragdrop has.

    Example:
        >>> pipeline = RagPipeline(PipelineConfig(data_dir=Path("/tmp/rag")))
        >>> pipeline.ingest(load_pydoc_topics())
        >>> print(pipeline.query("How does the with statement work?").answer)
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self._components: Components | None = None
        self._lock = threading.RLock()

    # -- construction -------------------------------------------------------------------

    @property
    def components(self) -> Components:
        """The built components (built on first access: loads models, opens Qdrant)."""
        with self._lock:
            if self._components is None:
                self._components = self._build()
            return self._components

    def _build(self) -> Components:
        cfg = self.config
        embed_model = components.build_embed_model(cfg)
        node_parser = components.build_node_parser(cfg, embed_model)
        client = components.build_qdrant_client(cfg)
        vector_store = components.build_vector_store(cfg, client, embed_model)
        index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        retriever = components.build_retriever(cfg, index, vector_store)
        postprocessors, rerank_status = components.build_postprocessors(cfg)
        return Components(
            embed_model,
            node_parser,
            client,
            vector_store,
            index,
            retriever,
            postprocessors,
            rerank_status,
        )

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
    ) -> IngestReport:
        """Index ``documents``; unchanged ones (same content hash) are not re-embedded.

        Args:
            documents: documents with stable ids (the id decides what counts as "the same").
            progress: show a progress bar.
            prune: delete indexed documents that are not in ``documents``.
            on_batch: called with the number of documents finished after each batch.

        Interrupting this (Ctrl-C, a crash) is safe: documents are recorded as done only
        after their points are written, and redone (old points deleted first) next time.
        """
        start = time.perf_counter()
        cfg = self.config
        parts = self.components
        manifest = IngestManifest(cfg.manifest_path, self.fingerprint())
        report = IngestReport()
        if manifest.fingerprint_changed:
            self._drop_collection(parts)
            report.rebuilt = True

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

        stale = sorted(set(manifest.documents) - set(hashes)) if prune else sorted(emptied)
        manifest.forget(stale)
        self._delete_points(parts, stale)
        report.deleted = len(stale)

        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="doc", desc="Indexing")
        try:
            for i in range(0, len(todo), cfg.ingest_batch_size):
                batch = todo[i : i + cfg.ingest_batch_size]
                report.nodes_written += self._ingest_batch(parts, manifest, batch, hashes)
                report.documents.extend(d.id_ for d in batch)
                if bar is not None:
                    bar.update(len(batch))
                if on_batch is not None:
                    on_batch(len(batch))
        finally:
            if bar is not None:
                bar.close()
        if report.changed:
            self._optimize(parts)
        report.seconds = time.perf_counter() - start
        return report

    def _ingest_batch(
        self,
        parts: Components,
        manifest: IngestManifest,
        batch: Sequence[Document],
        hashes: dict[str, str],
    ) -> int:
        ids = [d.id_ for d in batch]
        # Forget first: if we die after deleting points, the manifest must not claim them.
        manifest.forget(ids)
        self._delete_points(parts, ids)
        with stage("chunking"):
            nodes: list[BaseNode] = parts.node_parser.get_nodes_from_documents(list(batch))
        if nodes:
            with stage("embed"):
                vectors = parts.embed_model.get_text_embedding_batch(
                    [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
                )
            for node, vector in zip(nodes, vectors, strict=True):
                node.embedding = vector
            with stage("upsert"):
                parts.vector_store.add(nodes)
        manifest.record({doc_id: hashes[doc_id] for doc_id in ids})
        return len(nodes)

    def _optimize(self, parts: Components) -> None:
        # Qdrant Edge builds its HNSW index only when asked; servers and local mode need not.
        optimize = getattr(parts.client, "optimize", None)
        name = self.config.collection
        if optimize is not None and parts.client.collection_exists(collection_name=name):
            with stage("optimize"):
                optimize(name)

    def _delete_points(self, parts: Components, ref_doc_ids: Sequence[str]) -> None:
        # A first ingestion has no collection yet, and some stores raise on deleting from one.
        if ref_doc_ids and parts.client.collection_exists(collection_name=self.config.collection):
            for doc_id in ref_doc_ids:
                parts.vector_store.delete(doc_id)

    def _drop_collection(self, parts: Components) -> None:
        # Through the store, so its query cache and BM25 followers learn of it; the store
        # recreates the collection (with the new settings) on the next write.
        parts.vector_store.clear()
        self.config.manifest_path.unlink(missing_ok=True)

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

    def _retriever_for(self, filters: MetadataFilters | None) -> BaseRetriever:
        parts = self.components
        if filters is None:
            return parts.retriever
        return components.build_retriever(
            self.config, parts.index, parts.vector_store, filters=filters
        )

    def _check_question(self, question: str, top_k: int | None) -> int:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        k = self.config.top_k if top_k is None else top_k
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise ValueError(f"top_k must be an integer from 1 to 1000, got {top_k!r}")
        return k

    def _synthesize(
        self, question: str, nodes: list[NodeWithScore], top_k: int
    ) -> tuple[list[NodeWithScore], str]:
        nodes = nodes[:top_k]
        with stage("synthesize"):
            if _llm_configured():
                from llama_index.core import get_response_synthesizer

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
            sources=[_to_source(n) for n in nodes],
            timings={k: round(v, 6) for k, v in times.items()},
            mode="llm" if _llm_configured() else "extractive",
        )

    def query(
        self, question: str, top_k: int | None = None, filters: MetadataFilters | None = None
    ) -> RagAnswer:
        """Answer ``question`` from the index, with sources and per-stage timings."""
        k = self._check_question(question, top_k)
        parts = self.components
        started = time.perf_counter()
        with record_stages() as times:
            bundle = QueryBundle(question)
            with stage("retrieve"):
                nodes = self._retriever_for(filters).retrieve(bundle)
            for post in parts.postprocessors:
                with stage("postprocess"):
                    nodes = post.postprocess_nodes(nodes, query_bundle=bundle)
            nodes, text = self._synthesize(question, nodes, k)
        return self._answer(question, nodes, text, times, started)

    async def aquery(
        self, question: str, top_k: int | None = None, filters: MetadataFilters | None = None
    ) -> RagAnswer:
        """Async twin of `query`: the same steps, awaiting the retriever and postprocessors."""
        k = self._check_question(question, top_k)
        parts = await asyncio.to_thread(lambda: self.components)
        started = time.perf_counter()
        with record_stages() as times:
            bundle = QueryBundle(question)
            with stage("retrieve"):
                nodes = await self._retriever_for(filters).aretrieve(bundle)
            for post in parts.postprocessors:
                with stage("postprocess"):
                    nodes = await post.apostprocess_nodes(nodes, query_bundle=bundle)
            nodes, text = await asyncio.to_thread(self._synthesize, question, nodes, k)
        return self._answer(question, nodes, text, times, started)

    # -- operations ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Whether Qdrant answers and the collection exists, with its point count."""
        parts = self.components
        name = self.config.collection
        try:
            exists = bool(parts.client.collection_exists(collection_name=name))
            count = parts.client.count(collection_name=name).count if exists else 0
        except Exception as exc:  # any client failure means "not ready"
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": exists, "collection": name, "points": count}

    def close(self) -> None:
        """Release Qdrant's on-disk lock and other resources."""
        with self._lock:
            if self._components is not None:
                close = getattr(self._components.client, "close", None)
                if close is not None:
                    close()
                self._components = None

    def __enter__(self) -> RagPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
