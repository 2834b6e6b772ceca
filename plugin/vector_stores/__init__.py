"""Vector stores: Qdrant with validated settings, exact filters, backups and a safe cache."""

from ragdrop.qdrant_edge import AsyncEdgeQdrantClient, EdgeQdrantClient, embedded_client
from ragdrop.vector_stores.filters import query_filter, to_qdrant_filter
from ragdrop.vector_stores.points import point_id_for
from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore, WriteEvent, client_scope
from ragdrop.vector_stores.settings import (
    DENSE_VECTOR_NAME,
    SPARSE_VECTOR_NAME,
    CollectionLayout,
    CollectionSettings,
)
from ragdrop.vector_stores.sparse import hashed_term_frequencies

__all__ = [
    "AsyncEdgeQdrantClient",
    "EdgeQdrantClient",
    "embedded_client",
    "DENSE_VECTOR_NAME",
    "SPARSE_VECTOR_NAME",
    "CachedQdrantVectorStore",
    "CollectionLayout",
    "CollectionSettings",
    "WriteEvent",
    "client_scope",
    "hashed_term_frequencies",
    "point_id_for",
    "query_filter",
    "to_qdrant_filter",
]
