"""Read the nodes a Qdrant-backed vector store already holds, and follow its later writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from llama_index.core.schema import BaseNode

SCROLL_BATCH = 512


def iter_store_nodes(vector_store: Any, batch_size: int = SCROLL_BATCH) -> Iterator[BaseNode]:
    """Every node stored in ``vector_store`` (text and metadata from the payloads).

    Uses the store's own iterator when it has one (ragdrop's ``CachedQdrantVectorStore``),
    otherwise scrolls the collection of a LlamaIndex ``QdrantVectorStore``.
    """
    for name in ("iter_nodes", "iter_stored_nodes", "scroll_nodes"):
        method = getattr(vector_store, name, None)
        if callable(method):
            yield from method()
            return
    client = getattr(vector_store, "client", None)
    collection = getattr(vector_store, "collection_name", None)
    parse = getattr(vector_store, "parse_to_query_result", None)
    if client is None or collection is None or parse is None:
        raise TypeError(
            f"cannot read nodes from {type(vector_store).__name__}: pass a Qdrant vector store "
            "(ragdrop's or LlamaIndex's QdrantVectorStore) or build from nodes instead"
        )
    if not client.collection_exists(collection):
        return
    for points in _scroll(client, collection, batch_size, with_payload=True):
        yield from parse(points).nodes


def count_store_points(vector_store: Any) -> int | None:
    """Exact number of points in the store's collection, or None when unknown."""
    client = getattr(vector_store, "client", None)
    collection = getattr(vector_store, "collection_name", None)
    if client is None or collection is None:
        return None
    if not client.collection_exists(collection):
        return 0
    return int(client.count(collection_name=collection, exact=True).count)


def store_point_ids(vector_store: Any, batch_size: int = SCROLL_BATCH) -> set[str] | None:
    """Every point id in the store's collection (no payloads, no vectors), or None when unknown.

    Ids are strings in the canonical form of ``point_id_for`` (node ids that are UUIDs are the
    point ids themselves; other node ids map to a UUID5).
    """
    client = getattr(vector_store, "client", None)
    collection = getattr(vector_store, "collection_name", None)
    if client is None or collection is None:
        return None
    if not client.collection_exists(collection):
        return set()
    from ragdrop.vector_stores.points import point_id_for

    return {
        point_id_for(str(p.id))
        for points in _scroll(client, collection, batch_size, with_payload=False)
        for p in points
    }


def _scroll(client: Any, collection: str, batch_size: int, with_payload: bool) -> Iterator[Any]:
    """Every page of points of ``collection`` (never their vectors)."""
    offset = None
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
    from ragdrop.vector_stores.points import point_id_for

    return {point_id_for(i) for i in node_ids}


def fetch_store_nodes(vector_store: Any, node_ids: list[str]) -> list[BaseNode]:
    """Nodes by id from the store (used when the BM25 side does not keep node texts).

    A direct point lookup (``retrieve``): a filtered scroll would scan the whole collection
    in Qdrant's local mode.
    """
    if not node_ids:
        return []
    client = getattr(vector_store, "client", None)
    collection = getattr(vector_store, "collection_name", None)
    if client is None or collection is None:
        return list(vector_store.get_nodes(node_ids=node_ids))
    from llama_index.core.vector_stores.utils import metadata_dict_to_node
    from ragdrop.vector_stores.points import point_id_for

    records = client.retrieve(
        collection_name=collection,
        ids=[point_id_for(i) for i in node_ids],
        with_payload=True,
        with_vectors=False,
    )
    return [metadata_dict_to_node(r.payload) for r in records if r.payload]


def fetch_points(vector_store: Any, point_ids: list[str]) -> dict[str, BaseNode]:
    """Nodes by Qdrant point id (one ``retrieve`` call), keyed by the ids as given."""
    if not point_ids:
        return {}
    from llama_index.core.vector_stores.utils import metadata_dict_to_node

    records = vector_store.client.retrieve(
        collection_name=vector_store.collection_name,
        ids=point_ids,
        with_payload=True,
        with_vectors=False,
    )
    by_id = {str(r.id): metadata_dict_to_node(r.payload) for r in records if r.payload}
    return {i: by_id[i] for i in point_ids if i in by_id}
