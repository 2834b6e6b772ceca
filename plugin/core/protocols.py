"""The seams between packages, as typed protocols instead of attribute probes.

A vector store that tells listeners about its writes (`NotifyingStore`, e.g. ragdrop's
``CachedQdrantVectorStore``) lets a BM25 index follow it; a store over a Qdrant collection
(`QdrantBackedStore`: ragdrop's store and LlamaIndex's ``QdrantVectorStore`` both qualify)
can be read point by point. `WriteEvent` is what a write changed.

Example:
    >>> class Store:
    ...     def add_write_listener(self, listener): ...
    ...     def remove_write_listener(self, listener): ...
    ...     def write_listeners(self): return ()
    >>> isinstance(Store(), NotifyingStore), isinstance(object(), NotifyingStore)
    (True, False)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llama_index.core.schema import BaseNode

if TYPE_CHECKING:
    from qdrant_client.client_base import QdrantBase


class WriteKind(enum.StrEnum):
    """What kind of write a `WriteEvent` reports."""

    ADD = "add"
    DELETE = "delete"  # by ref_doc_id
    DELETE_NODES = "delete_nodes"
    CLEAR = "clear"  # collection dropped
    RESTORE = "restore"  # collection replaced from a backup: re-read every node


@dataclass(frozen=True)
class WriteEvent:
    """What a write changed, for listeners such as a BM25 index kept in step.

    ``kind`` is a `WriteKind` (a plain string compares equal: ``"add"``, ``"delete"``,
    ``"delete_nodes"``, ``"clear"``, ``"restore"``).
    """

    kind: str
    nodes: list[BaseNode] = field(default_factory=list)
    node_ids: list[str] = field(default_factory=list)
    ref_doc_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in WriteKind.__members__.values():
            raise ValueError(
                f"kind must be one of {[k.value for k in WriteKind]}, got {self.kind!r}"
            )


WriteListener = Callable[[WriteEvent], None]


@runtime_checkable
class NotifyingStore(Protocol):
    """A vector store that calls its listeners after every successful write."""

    def add_write_listener(self, listener: WriteListener) -> None: ...

    def remove_write_listener(self, listener: WriteListener) -> None: ...

    def write_listeners(self) -> tuple[WriteListener, ...]: ...


@runtime_checkable
class QdrantBackedStore(Protocol):
    """A vector store over one Qdrant collection reached through a qdrant-client client."""

    @property
    def client(self) -> QdrantBase: ...

    @property
    def collection_name(self) -> str: ...
