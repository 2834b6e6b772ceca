"""Qdrant Edge behind qdrant-client's API: `EdgeQdrantClient` and `AsyncEdgeQdrantClient`.

Qdrant Edge is Qdrant's embedded Rust engine (HNSW, payload indexes, quantization); this
package makes it a drop-in for ``QdrantClient(path=...)``. The floors: it imports
``ragdrop.core`` only (never ``ragdrop.vector_stores``, which re-exports it).

- ``client``/``collection_methods``: `EdgeQdrantClient`, ``QdrantClient``'s public surface;
- ``async_client``/``async_collection_methods``: `AsyncEdgeQdrantClient`, its async twin;
- ``backend``: `QdrantEdgeLocal`, the collections of one storage directory and their writes;
- ``reads``: read requests on one collection; ``storage``: the on-disk layout;
- ``convert_filters``/``convert_points``/``convert_queries``/``convert_config``: pure
  conversions between ``qdrant_client.models`` and ``qdrant_edge`` types;
- ``embedded``: `embedded_client`, Edge or local mode for a directory.
"""

from ragdrop.qdrant_edge.async_client import AsyncEdgeQdrantClient
from ragdrop.qdrant_edge.backend import QdrantEdgeLocal
from ragdrop.qdrant_edge.client import EdgeQdrantClient
from ragdrop.qdrant_edge.embedded import EMBEDDED_ENGINES, EmbeddedEngine, embedded_client
from ragdrop.qdrant_edge.errors import EdgeStorageError

__all__ = [
    "EMBEDDED_ENGINES",
    "AsyncEdgeQdrantClient",
    "EdgeQdrantClient",
    "EdgeStorageError",
    "EmbeddedEngine",
    "QdrantEdgeLocal",
    "embedded_client",
]
