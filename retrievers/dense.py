"""Exact dense retrieval over an in-memory matrix: the out-of-the-box vector side."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.core import validation as check
from ragdrop.observability.stages import Stage, stage
from ragdrop.retrievers.filters import build_filter_fn


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class ArrayVectorRetriever(BaseRetriever):
    """Cosine similarity over a float32 matrix held in memory, with metadata filters.

    One matrix-vector product per query: at 5k nodes ~100x faster than LlamaIndex's
    ``SimpleVectorStore``, which scores every node in Python.

    Args:
        nodes: nodes to index; those without ``embedding`` are embedded with ``embed_model``.
        embed_model: embeds queries (and nodes without embeddings).
        similarity_top_k: results per query.
        filters: metadata filters applied to every query.

    Example:
        >>> from llama_index.core.schema import TextNode
        >>> nodes = [TextNode(text="qdrant", id_="q", embedding=[1.0, 0.0]),
        ...          TextNode(text="bm25", id_="b", embedding=[0.0, 1.0])]
        >>> retriever = ArrayVectorRetriever(nodes, similarity_top_k=1)
        >>> hit = retriever.retrieve(QueryBundle("vector db", embedding=[0.9, 0.1]))[0]
        >>> hit.node.node_id, round(hit.score, 3)
        ('q', 0.994)
    """

    def __init__(
        self,
        nodes: Sequence[BaseNode] = (),
        embed_model: BaseEmbedding | None = None,
        similarity_top_k: int = 10,
        filters: MetadataFilters | None = None,
    ) -> None:
        check.positive_int("similarity_top_k", similarity_top_k)
        check.instance("filters", filters, MetadataFilters, allow_none=True)
        self.embed_model = embed_model
        self.similarity_top_k = similarity_top_k
        self._filters = filters
        # Shared by every `with_filters` view; `state` is replaced whole (never mutated), so
        # a query reads one consistent (matrix, nodes) pair without taking the lock.
        self._rows = _Rows()
        super().__init__()
        if nodes:
            self.add_nodes(nodes)

    def with_filters(self, filters: MetadataFilters | None) -> ArrayVectorRetriever:
        view = copy.copy(self)
        view._filters = filters
        return view

    def add_nodes(self, nodes: Sequence[BaseNode]) -> None:
        """Append nodes (embedding those that have none)."""
        nodes = list(nodes)
        missing = [n for n in nodes if n.embedding is None]
        if missing:
            if self.embed_model is None:
                raise ValueError("nodes without embeddings need embed_model=")
            texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in missing]
            vectors = self.embed_model.get_text_embedding_batch(texts)
            embedded = dict(zip((n.node_id for n in missing), vectors, strict=True))
        else:
            embedded = {}
        latest = {n.node_id: n for n in nodes}  # a repeated id: the last copy wins
        nodes = list(latest.values())
        rows = np.asarray(
            [n.embedding if n.embedding is not None else embedded[n.node_id] for n in nodes],
            dtype=np.float32,
        )
        if rows.size == 0:
            return
        if not np.isfinite(rows).all():
            bad = nodes[int(np.argwhere(~np.isfinite(rows))[0][0])].node_id
            raise ValueError(f"node {bad!r}: embedding has NaN or infinite values")
        with self._rows.lock:
            matrix, old = self._rows.state
            if matrix.size and rows.shape[1] != matrix.shape[1]:
                raise ValueError(
                    f"embedding size {rows.shape[1]} differs from the index's {matrix.shape[1]}"
                )
            keep = [i for i, n in enumerate(old) if n.node_id not in latest]
            base = matrix[keep] if matrix.size else np.zeros((0, rows.shape[1]), np.float32)
            self._rows.state = (
                np.vstack([base, _unit_rows(rows)]),
                tuple(old[i] for i in keep) + tuple(nodes),
            )

    def vectors_of(self, node_ids: Sequence[str]) -> dict[str, list[float]]:
        """The stored (unit-length) vectors of ``node_ids`` that this retriever holds."""
        matrix, rows = self._rows.positions()
        return {i: matrix[rows[i]].tolist() for i in node_ids if i in rows}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        matrix, nodes = self._rows.state
        if not nodes:
            return []
        embedding = query_bundle.embedding
        if embedding is None:
            if self.embed_model is None:
                raise ValueError("queries without an embedding need embed_model=")
            with stage(Stage.EMBED):
                embedding = self.embed_model.get_query_embedding(query_bundle.query_str)
        with stage(Stage.VECTOR):
            query = np.asarray(embedding, dtype=np.float32)
            if query.shape != (matrix.shape[1],) or not np.isfinite(query).all():
                raise ValueError(
                    f"query_embedding must be {matrix.shape[1]} finite numbers, got shape "
                    f"{query.shape}"
                )
            query = query / (np.linalg.norm(query) or 1.0)
            # einsum stays on this thread; a BLAS gemv fans out to worker threads whose
            # spin-waits cost milliseconds on a busy machine (measured: 0.2 ms -> 8 ms p50).
            sims = np.einsum("ij,j->i", matrix, query)
            by_id = {n.node_id: n for n in nodes} if self._filters is not None else {}
            accept = build_filter_fn(
                self._filters, lambda i: by_id[i].metadata if i in by_id else None
            )
            k = self.similarity_top_k
            want = k if accept is None else min(len(nodes), 4 * k)
            while True:
                top = (
                    np.argpartition(-sims, want - 1)[:want]
                    if want < sims.size
                    else np.arange(sims.size)
                )
                top = top[np.lexsort((top, -sims[top]))]
                hits = [int(i) for i in top if accept is None or accept(nodes[int(i)].node_id)]
                if len(hits) >= k or want >= sims.size:
                    break
                want = min(sims.size, want * 4)
            return [NodeWithScore(node=nodes[i], score=float(sims[i])) for i in hits[:k]]


class _Rows:
    """The vectors and nodes of an `ArrayVectorRetriever`, swapped whole under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: tuple[np.ndarray, tuple[BaseNode, ...]] = (np.zeros((0, 0), np.float32), ())
        self._positions: tuple[object, dict[str, int]] = ((), {})

    def positions(self) -> tuple[np.ndarray, dict[str, int]]:
        """The matrix and node id -> row, built once per state (the state is swapped whole)."""
        matrix, nodes = self.state
        made_for, rows = self._positions
        if made_for is not nodes:
            rows = {n.node_id: i for i, n in enumerate(nodes)}
            self._positions = (nodes, rows)
        return matrix, rows
