"""Read the nodes a Qdrant-backed vector store holds: every node, every point id, nodes by id.

Works on ragdrop's ``CachedQdrantVectorStore`` (its own ``iter_nodes``) and on any store over a
Qdrant collection (`QdrantBackedStore`, e.g. LlamaIndex's ``QdrantVectorStore``), whose
payloads use LlamaIndex's layout (``node_to_metadata_dict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import BasePydanticVectorStore
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import models
from qdrant_client.client_base import QdrantBase

from ragdrop.core.protocols import QdrantBackedStore
from ragdrop.vector_stores.points import check_point_identity, point_id_for
from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore

SCROLL_BATCH = 512


def iter_store_nodes(
    vector_store: BasePydanticVectorStore, batch_size: int = SCROLL_BATCH
) -> Iterator[BaseNode]:
    """Every node stored in ``vector_store`` (text and metadata from the payloads)."""
    if isinstance(vector_store, CachedQdrantVectorStore):
        yield from vector_store.iter_nodes()
        return
    if not isinstance(vector_store, QdrantVectorStore):
        raise TypeError(
            f"cannot read nodes from {type(vector_store).__name__}: pass a Qdrant vector store "
            "(ragdrop's CachedQdrantVectorStore or LlamaIndex's QdrantVectorStore) or build "
            "from nodes instead"
        )
    client, collection = vector_store.client, vector_store.collection_name
    if not client.collection_exists(collection):
        return
    for points in _scroll(client, collection, batch_size, with_payload=True):
        yield from vector_store.parse_to_query_result(points).nodes or []


def count_store_points(vector_store: object) -> int | None:
    """Exact number of points in the store's collection, or None when unknown."""
    if not isinstance(vector_store, QdrantBackedStore):
        return None
    client, collection = vector_store.client, vector_store.collection_name
    if not client.collection_exists(collection):
        return 0
    return int(client.count(collection_name=collection, exact=True).count)


def store_point_ids(vector_store: object, batch_size: int = SCROLL_BATCH) -> set[str] | None:
    """Every point id in the store's collection (no payloads, no vectors), or None when unknown.

    Ids are strings in the canonical form of ``point_id_for`` (node ids that are UUIDs are the
    point ids themselves; other node ids map to a UUID5).
    """
    if not isinstance(vector_store, QdrantBackedStore):
        return None
    client, collection = vector_store.client, vector_store.collection_name
    if not client.collection_exists(collection):
        return set()
    return {
        point_id_for(str(p.id))
        for points in _scroll(client, collection, batch_size, with_payload=False)
        for p in points
    }


def _scroll(
    client: QdrantBase, collection: str, batch_size: int, with_payload: bool
) -> Iterator[list[models.Record]]:
    """Every page of points of ``collection`` (never their vectors)."""
    offset: models.ExtendedPointId | None = None
    while True:
        points, offset = client.scroll(
            collection_name=collection,
            limit=batch_size,
            offset=offset,
            with_payload=with_payload,
            with_vectors=False,
        )
        yield points
        if offset is None:
            return


def index_point_ids(node_ids: Iterable[str]) -> set[str]:
    """The Qdrant point ids of ``node_ids`` (see `store_point_ids`)."""
    return {point_id_for(i) for i in node_ids}


def fetch_store_nodes(vector_store: BasePydanticVectorStore, node_ids: list[str]) -> list[BaseNode]:
    """Nodes by id from the store (used when the BM25 side does not keep node texts).

    A direct point lookup (``retrieve``): a filtered scroll would scan the whole collection
    in Qdrant's local mode.
    """
    if not node_ids:
        return []
    if not isinstance(vector_store, QdrantBackedStore):
        return list(vector_store.get_nodes(node_ids=node_ids))
    records = vector_store.client.retrieve(
        collection_name=vector_store.collection_name,
        ids=[point_id_for(i) for i in node_ids],
        with_payload=True,
        with_vectors=False,
    )
    return list(nodes_from_records(records).values())


def nodes_from_records(records: Sequence[models.Record]) -> dict[str, BaseNode]:
    """Nodes by point id (as a string) from Qdrant records read with their payloads."""
    nodes = {}
    for record in records:
        if record.payload:
            node = metadata_dict_to_node(record.payload)
            check_point_identity(record.id, node.node_id)  # never another document
            nodes[str(record.id)] = node
    return nodes
