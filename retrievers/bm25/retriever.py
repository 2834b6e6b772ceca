"""LlamaIndex retriever over a `BM25Index`: incremental, persisted with its tokenizer, filterable."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.core import validation as check
from ragdrop.core.copying import deep_copy_object
from ragdrop.core.files import building_dir, create_file, read_bytes
from ragdrop.observability.stages import Stage, stage
from ragdrop.retrievers.bm25.index import BM25Index, QueryTerms
from ragdrop.retrievers.bm25.storage import BM25StateError, check_file, file_record
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.filters import build_filter_fn

NODES_FILE = "nodes.jsonl"
RETRIEVER_FILE = "retriever.json"
INDEX_HEADER = "index/header.json"
RETRIEVER_FORMAT = "ragdrop-bm25-retriever"
# Version 2 (issue 14) records the length and SHA-256 of nodes.jsonl and of the index's
# header.json, and a SHA-256 of retriever.json itself; version 1 (settings only) is still read.
RETRIEVER_VERSION = 2


class BM25Retriever(BaseRetriever):
    """BM25 retriever whose index follows adds and deletes, with per-query metadata filters.

    Scores equal ``rank_bm25.BM25Okapi`` on the tokenizer's terms (see `BM25Index`). The
    text indexed per node is ``node.get_content(metadata_mode)`` (LlamaIndex's EMBED view by
    default, like its own BM25Retriever).

    Args:
        nodes: nodes to index now (more with `add_nodes`).
        index: an existing `BM25Index` whose ids are node ids (with ``nodes`` or a store).
        tokenizer: tokenizer of a new index (ignored when ``index`` is given).
        similarity_top_k: results per query.
        filters: metadata filters applied to every query (see also `with_filters`).
        metadata_mode: which metadata is indexed together with the node text.
        keep_nodes: keep the nodes in memory (and in `persist`); False when a vector store
            holds the texts (only ids and metadata are kept, nodes are fetched by id).
        node_fetcher: ``list[str] -> list[BaseNode]`` reading nodes not kept in memory (by
            id, e.g. from the vector store); see also `set_node_fetcher`.

    Example:
        >>> from llama_index.core.schema import TextNode
        >>> texts = {"a": "cats purr", "b": "dogs bark", "c": "birds sing"}
        >>> nodes = [TextNode(text=text, id_=node_id) for node_id, text in texts.items()]
        >>> r = BM25Retriever(nodes=nodes, similarity_top_k=1)
        >>> r.retrieve("purring cats")[0].node.node_id
        'a'
    """

    def __init__(
        self,
        nodes: Sequence[BaseNode] | None = None,
        index: BM25Index | None = None,
        tokenizer: BM25Tokenizer | None = None,
        similarity_top_k: int = 10,
        filters: MetadataFilters | None = None,
        metadata_mode: MetadataMode = MetadataMode.EMBED,
        keep_nodes: bool = True,
        node_fetcher: Callable[[list[str]], list[BaseNode]] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if node_fetcher is not None and not callable(node_fetcher):
            raise TypeError(f"node_fetcher must be callable, got {type(node_fetcher).__name__}")
        check.positive_int("similarity_top_k", similarity_top_k)
        check.instance("filters", filters, MetadataFilters, allow_none=True)
        check.instance("index", index, BM25Index, allow_none=True)
        self.index = index if index is not None else BM25Index(tokenizer=tokenizer)
        self.similarity_top_k = similarity_top_k
        self.filters = filters
        self.metadata_mode = MetadataMode(metadata_mode)
        self.keep_nodes = keep_nodes
        self._nodes: dict[str, BaseNode] = {}
        # Metadata is kept even when nodes are not, so that filters never need a round trip.
        self._metadata: dict[str, dict[str, Any]] = {}
        self._by_ref_doc: dict[str, set[str]] = {}
        self._ref_of: dict[str, str] = {}
        self._node_fetcher = node_fetcher
        self._write_lock = threading.RLock()
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        if nodes:
            self.add_nodes(nodes)

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> BM25Retriever:
        """An independent retriever: its own index and nodes, the same node fetcher.

        The copy does not follow a store the original follows (`store_sync`); `with_filters`
        is the view that shares the index.
        """
        with self._write_lock:
            return deep_copy_object(
                self, memo, share=("_node_fetcher",), fresh={"_write_lock": threading.RLock}
            )

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_defaults(
        cls,
        nodes: Sequence[BaseNode] | None = None,
        index: Any = None,
        **kwargs: Any,
    ) -> BM25Retriever:
        """From nodes or a LlamaIndex index with a docstore (like LlamaIndex's BM25Retriever)."""
        if (nodes is None) == (index is None):
            raise ValueError("pass exactly one of nodes= or index=")
        if index is not None:
            nodes = list(index.docstore.docs.values())
        return cls(nodes=nodes, **kwargs)

    def with_filters(
        self, filters: MetadataFilters | None, similarity_top_k: int | None = None
    ) -> BM25Retriever:
        """A view sharing this index and nodes that applies ``filters`` to every query (and
        returns ``similarity_top_k`` results when given)."""
        view = copy.copy(self)
        view.filters = check.instance("filters", filters, MetadataFilters, allow_none=True)
        if similarity_top_k is not None:
            view.similarity_top_k = check.positive_int("similarity_top_k", similarity_top_k)
        return view

    # ---- writes --------------------------------------------------------------------------
    def add_nodes(self, nodes: Sequence[BaseNode]) -> None:
        """Index nodes; a node whose id is already indexed is replaced."""
        nodes = list(nodes)
        for node in nodes:
            if not isinstance(node, BaseNode):
                raise TypeError(f"nodes must be LlamaIndex nodes, got {type(node).__name__}")
        texts = [node.get_content(metadata_mode=self.metadata_mode) for node in nodes]
        ids = [node.node_id for node in nodes]
        with self._write_lock:
            self.index.update(ids, texts)
            for node in nodes:
                self._remember(node)

    def _remember(self, node: BaseNode) -> None:
        if self.keep_nodes:
            self._nodes[node.node_id] = node
        self._remember_meta(node.node_id, node.ref_doc_id, dict(node.metadata))

    def _remember_meta(self, node_id: str, ref_doc_id: str | None, meta: dict[str, Any]) -> None:
        old_ref = self._ref_of.pop(node_id, None)
        if old_ref is not None:
            self._by_ref_doc.get(old_ref, set()).discard(node_id)
        self._metadata[node_id] = meta
        if ref_doc_id is not None:
            self._ref_of[node_id] = ref_doc_id
            self._by_ref_doc.setdefault(ref_doc_id, set()).add(node_id)

    def _forget(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)
        self._metadata.pop(node_id, None)
        ref = self._ref_of.pop(node_id, None)
        if ref is not None:
            ids = self._by_ref_doc.get(ref)
            if ids is not None:
                ids.discard(node_id)
                if not ids:
                    del self._by_ref_doc[ref]

    def delete_nodes(self, node_ids: Iterable[str]) -> int:
        """Remove nodes by id; returns how many were indexed."""
        node_ids = list(node_ids)
        with self._write_lock:
            removed = self.index.delete(node_ids)
            for node_id in node_ids:
                self._forget(node_id)
            return removed

    def delete_ref_doc(self, ref_doc_id: str) -> int:
        """Remove every node of a source document; returns how many were removed."""
        with self._write_lock:
            return self.delete_nodes(list(self._by_ref_doc.get(ref_doc_id, ())))

    # ---- reads ---------------------------------------------------------------------------
    def search(
        self,
        query: str | QueryTerms,
        top_k: int | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[tuple[str, float]]:
        """``(node_id, score)`` of the best matches, filtered (no nodes are materialised).

        ``query`` is text, a list of terms or ``term -> weight`` (see `BM25Index.search`).
        """
        if top_k is None:
            top_k = self.similarity_top_k
        else:
            check.positive_int("top_k", top_k)
        accept = build_filter_fn(filters or self.filters, self._metadata.get)
        with stage(Stage.BM25):
            return self.index.search(query, top_k=top_k, accept=accept)

    @property
    def ref_doc_ids(self) -> frozenset[str]:
        """The source documents of the indexed nodes (those that name one)."""
        return frozenset(self._by_ref_doc)

    @property
    def kept_nodes(self) -> dict[str, BaseNode]:
        """Nodes held in memory by id (empty when ``keep_nodes=False``)."""
        return self._nodes

    def set_node_fetcher(self, fetcher: Callable[[list[str]], list[BaseNode]] | None) -> None:
        """Read nodes not kept in memory with ``fetcher(ids)`` (None: only kept nodes)."""
        if fetcher is not None and not callable(fetcher):
            raise TypeError(f"fetcher must be callable, got {type(fetcher).__name__}")
        self._node_fetcher = fetcher

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, BaseNode]:
        """Nodes by id (from memory, or from the vector store when nodes are not kept)."""
        found = {i: self._nodes[i] for i in node_ids if i in self._nodes}
        missing = [i for i in node_ids if i not in found]
        if missing and self._node_fetcher is not None:
            for node in self._node_fetcher(missing):
                found[node.node_id] = node
        return found

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.search(query_bundle.query_str)
        nodes = self.get_nodes([i for i, _ in hits])
        return [NodeWithScore(node=nodes[i], score=s) for i, s in hits if i in nodes]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Pure CPU over in-memory arrays: nothing to await.
        return self._retrieve(query_bundle)

    # ---- persistence ---------------------------------------------------------------------
    def persist(self, path: str | Path) -> None:
        """Save the index (with tokenizer), the settings and the nodes as JSON lines.

        Everything is written into a private scratch directory beside ``path`` that then
        replaces it whole (`ragdrop.core.files.building_dir`), so a reader sees either the old
        or the new generation, never a mix. ``path`` is owned by this retriever: other files
        in it are dropped; its parent is created 0700 and refused if others may write it.
        ``retriever.json`` records the length and SHA-256 of ``nodes.jsonl`` and of the
        index's ``header.json`` (which records its own files), and a SHA-256 of itself.
        """
        settings = {
            "similarity_top_k": self.similarity_top_k,
            "metadata_mode": str(self.metadata_mode.value),
            "keep_nodes": self.keep_nodes,
        }
        with self._write_lock, building_dir(path) as scratch:
            self.index.save(scratch / "index")
            digest, size = hashlib.sha256(), 0
            with create_file(scratch / NODES_FILE) as handle:
                for line in self._node_lines():
                    data = (line + "\n").encode("utf-8")
                    handle.write(data)
                    digest.update(data)
                    size += len(data)
            body: dict[str, Any] = {
                "format": RETRIEVER_FORMAT,
                "version": RETRIEVER_VERSION,
                "settings": settings,
                "files": {
                    NODES_FILE: {"bytes": size, "sha256": digest.hexdigest()},
                    INDEX_HEADER: file_record(read_bytes(scratch / INDEX_HEADER)),
                },
            }
            body["sha256"] = _self_digest(body)
            with create_file(scratch / RETRIEVER_FILE) as handle:
                handle.write(json.dumps(body).encode("utf-8"))

    def _node_lines(self) -> Iterator[str]:
        if self.keep_nodes:
            for node in self._nodes.values():
                yield json.dumps(doc_to_json(node))
        else:
            for node_id, meta in self._metadata.items():
                yield json.dumps(
                    {"id": node_id, "ref": self._ref_of.get(node_id), "metadata": meta}
                )

    @classmethod
    def from_persist_dir(cls, path: str | Path, **kwargs: Any) -> BM25Retriever:
        """Load what `persist` wrote (JSON and raw arrays only, nothing executable).

        Raises FileNotFoundError when ``path`` holds no retriever, and `BM25StateError` (a
        ValueError) when any part is missing, damaged (its checksum differs), a symlink or
        disagrees with the rest (the saved nodes and the saved index must hold the same ids).
        A ``retriever.json`` of the first format (settings only, no checksums) is still read.
        """
        path = Path(path)
        if not (path / RETRIEVER_FILE).exists() and not (path / RETRIEVER_FILE).is_symlink():
            raise FileNotFoundError(f"no BM25 retriever at {path} ({RETRIEVER_FILE} missing)")
        try:
            return cls._load(path, kwargs)
        except BM25StateError:
            raise
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise _unusable(path, exc) from exc

    @classmethod
    def _load(cls, path: Path, kwargs: dict[str, Any]) -> BM25Retriever:
        try:
            settings, records = _read_retriever_file(path)
        except BM25StateError as exc:
            raise _unusable(path, exc) from exc

        def verified(name: str) -> bytes:
            data = read_bytes(path / name)
            if records is not None:
                try:
                    check_file(name, data, records.get(name), RETRIEVER_FILE)
                except BM25StateError as exc:
                    raise _unusable(path, exc) from exc
            return data

        if records is not None:
            verified(INDEX_HEADER)  # the header then vouches for every file of the index
        settings.update(kwargs)
        retriever = cls(index=BM25Index.load(path / "index"), **settings)
        seen: set[str] = set()
        # persist always writes the nodes file: a missing one is a damaged generation.
        for line in verified(NODES_FILE).decode("utf-8").splitlines():
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"{NODES_FILE} holds a line that is not a JSON object")
            if "__type__" in row:
                node = json_to_doc(row)
                retriever._remember(node)
                seen.add(node.node_id)
            else:
                node_id, ref, meta = row["id"], row["ref"], row["metadata"]
                if type(node_id) is not str or not isinstance(ref, str | None):
                    raise ValueError(f"{NODES_FILE} holds an id that is not a string")
                if not isinstance(meta, dict):
                    raise ValueError(f"{NODES_FILE} holds metadata that is not an object")
                retriever._remember_meta(node_id, ref, meta)
                seen.add(node_id)
        indexed = set(retriever.index.ids)
        if seen != indexed:
            raise BM25StateError(
                f"BM25 retriever at {path}: {NODES_FILE} and the index disagree "
                f"({len(seen - indexed)} ids only in {NODES_FILE}, "
                f"{len(indexed - seen)} only in the index); rebuild the index"
            )
        return retriever


def _unusable(path: Path, reason: object) -> BM25StateError:
    return BM25StateError(
        f"BM25 retriever at {path} is unusable: {reason}; rebuild the index "
        "(ragdrop rebuilds it from the vector store when it loads it)"
    )


def _self_digest(body: dict[str, Any]) -> str:
    """SHA-256 of ``body`` without its ``sha256`` key, as canonical JSON."""
    rest = {k: v for k, v in body.items() if k != "sha256"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read_retriever_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The settings in ``retriever.json`` and its file records (None for the first format,
    which had no checksums)."""
    data = json.loads(read_bytes(path / RETRIEVER_FILE).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{RETRIEVER_FILE} does not hold a JSON object")
    if "format" not in data:
        return data, None  # version 1: the settings themselves
    if data.get("format") != RETRIEVER_FORMAT or data.get("version") != RETRIEVER_VERSION:
        raise BM25StateError(
            f"{RETRIEVER_FILE} has format {data.get('format')!r} version "
            f"{data.get('version')!r}; this ragdrop reads {RETRIEVER_FORMAT!r} version "
            f"{RETRIEVER_VERSION}"
        )
    if data.get("sha256") != _self_digest(data):
        raise BM25StateError(f"{RETRIEVER_FILE} does not match its own checksum")
    settings, records = data.get("settings"), data.get("files")
    if not isinstance(settings, dict) or not isinstance(records, dict):
        raise BM25StateError(f"{RETRIEVER_FILE} lacks its settings or its file records")
    return settings, records
