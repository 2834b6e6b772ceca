"""BM25 follows the store: one BM25 index per store, kept in step with the store's writes.

`store_bm25` builds the index from the store's payloads (or loads it from ``persist_dir``
when it holds exactly the store's points) and registers a `StoreWriteFollower` with the
store, which applies every later add, delete, clear and restore. The follower *is* the
registry: a second call for the same store finds it among the store's listeners and shares
its index, so nothing is global and the index lives exactly as long as the store.

A store that does not tell its writes (LlamaIndex's ``QdrantVectorStore``) gets a fresh index
per call, read from its payloads: it cannot be followed, so it is never shared stale.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from ragdrop.core.protocols import NotifyingStore, WriteEvent, WriteKind
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.store_reader import (
    fetch_store_nodes,
    index_point_ids,
    iter_store_nodes,
    store_point_ids,
)

logger = logging.getLogger(__name__)


class StoreWriteFollower:
    """Write listener applying a vector store's adds and deletes to a `BM25Retriever`.

    Args:
        bm25: the index to keep in step.
        persist_dir: where the index is persisted after each write (None: not persisted).
        vector_store: the store followed (re-read whole after a restore).
    """

    def __init__(
        self,
        bm25: BM25Retriever,
        persist_dir: str | Path | None = None,
        vector_store: BasePydanticVectorStore | None = None,
    ) -> None:
        self.bm25 = bm25
        self.persist_dir = None if persist_dir is None else Path(persist_dir)
        self.vector_store = vector_store

    def on_add(self, nodes: Sequence[BaseNode]) -> None:
        self.bm25.add_nodes(nodes)
        self._persist()

    def on_delete(
        self, ref_doc_id: str | None = None, node_ids: Sequence[str] | None = None
    ) -> None:
        if ref_doc_id is not None:
            self.bm25.delete_ref_doc(ref_doc_id)
        if node_ids:
            self.bm25.delete_nodes(node_ids)
        self._persist()

    def on_clear(self) -> None:
        self.bm25.delete_nodes(self.bm25.index.ids)
        self._persist()

    def on_restore(self) -> None:
        """The collection was replaced from a backup: re-read every node from the store."""
        if self.vector_store is None:
            raise ValueError(
                "a restore replaced the collection, but this BM25 follower has no vector_store "
                "to re-read it from; rebuild it with store_bm25(vector_store)"
            )
        self.bm25.delete_nodes(self.bm25.index.ids)
        _add_store_nodes(self.bm25, self.vector_store)
        self._persist()

    def __call__(self, event: WriteEvent) -> None:
        """Apply a `WriteEvent`."""
        if event.kind == WriteKind.ADD:
            self.on_add(event.nodes)
        elif event.kind == WriteKind.DELETE:
            self.on_delete(ref_doc_id=event.ref_doc_id, node_ids=event.node_ids)
        elif event.kind == WriteKind.DELETE_NODES:
            self.on_delete(node_ids=event.node_ids)
        elif event.kind == WriteKind.CLEAR:
            self.on_clear()
        else:
            self.on_restore()

    def serves(self, persist_dir: str | Path | None, tokenizer: BM25Tokenizer | None) -> bool:
        """Whether this follower's index is the one asked for (same files, same tokenizer)."""
        same_dir = (None if persist_dir is None else Path(persist_dir)) == self.persist_dir
        return same_dir and (tokenizer is None or self.bm25.index.tokenizer == tokenizer)

    def _persist(self) -> None:
        if self.persist_dir is not None:
            self.bm25.persist(self.persist_dir)


def store_bm25(
    vector_store: BasePydanticVectorStore,
    persist_dir: str | Path | None = None,
    tokenizer: BM25Tokenizer | None = None,
) -> BM25Retriever:
    """The BM25 index over ``vector_store``'s payloads that follows its writes.

    Built (or loaded from ``persist_dir``) on first use, then shared by every retriever over
    that store object (see the module docstring).
    """
    if not isinstance(vector_store, NotifyingStore):
        return load_or_build_bm25(vector_store, persist_dir, tokenizer)
    for listener in vector_store.write_listeners():
        if isinstance(listener, StoreWriteFollower) and listener.serves(persist_dir, tokenizer):
            return listener.bm25
    bm25 = load_or_build_bm25(vector_store, persist_dir, tokenizer)
    vector_store.add_write_listener(StoreWriteFollower(bm25, persist_dir, vector_store))
    return bm25


def load_or_build_bm25(
    vector_store: BasePydanticVectorStore,
    persist_dir: str | Path | None,
    tokenizer: BM25Tokenizer | None = None,
) -> BM25Retriever:
    """BM25 over a store's payloads: loaded from ``persist_dir`` when it matches, else rebuilt."""
    fetcher = partial(fetch_store_nodes, vector_store)
    if persist_dir is not None and (Path(persist_dir) / "retriever.json").exists():
        try:
            bm25: BM25Retriever | None = BM25Retriever.from_persist_dir(persist_dir)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            # Damaged or partial state (BM25StateError, a ValueError, names what): the
            # store's points are the truth, so the index is rebuilt from them below.
            logger.warning("rebuilding the BM25 index from the vector store: %s", exc)
            bm25 = None
        # Reuse only an index over exactly the store's points: equal counts are not enough
        # (a write missed between the store and the persist, or a rebuild with as many
        # chunks, leaves a stale index of the same size).
        if (
            bm25 is not None
            and (tokenizer is None or bm25.index.tokenizer == tokenizer)
            and _same_points(bm25, vector_store)
        ):
            bm25.set_node_fetcher(fetcher)
            return bm25
    # The store holds the texts: keep only ids and metadata here (less memory, and
    # persisting after each write does not rewrite every text).
    bm25 = BM25Retriever(tokenizer=tokenizer, keep_nodes=False, node_fetcher=fetcher)
    _add_store_nodes(bm25, vector_store)
    if persist_dir is not None:
        bm25.persist(persist_dir)
    return bm25


def _same_points(bm25: BM25Retriever, vector_store: BasePydanticVectorStore) -> bool:
    """Whether ``bm25`` indexes exactly the store's points (False when the store can't tell)."""
    stored = store_point_ids(vector_store)
    if stored is None:
        return False
    ids = bm25.index.ids
    return len(ids) == len(stored) and index_point_ids(ids) == stored


def _add_store_nodes(
    bm25: BM25Retriever, vector_store: BasePydanticVectorStore, batch_size: int = 4096
) -> None:
    batch: list[BaseNode] = []
    for node in iter_store_nodes(vector_store):
        batch.append(node)
        if len(batch) >= batch_size:
            bm25.add_nodes(batch)
            batch = []
    bm25.add_nodes(batch)
