"""`embedded_client`: an on-disk Qdrant without a server, on Qdrant Edge or qdrant-client's
local mode.

Example:
    >>> import tempfile
    >>> client = embedded_client(tempfile.mkdtemp())
    >>> type(client).__name__
    'EdgeQdrantClient'
    >>> client.close()
    >>> EMBEDDED_ENGINES
    ('auto', 'edge', 'local')
"""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from ragdrop.core.choices import EMBEDDED_ENGINES as EMBEDDED_ENGINES
from ragdrop.core.choices import EmbeddedEngine as EmbeddedEngine
from ragdrop.core.files import private_dir
from ragdrop.qdrant_edge.client import EdgeQdrantClient
from ragdrop.qdrant_edge.storage import LOCAL_MODE_MARKER

# EmbeddedEngine: Qdrant Edge, qdrant-client local mode, or auto (see `embedded_client`).


def embedded_client(
    path: str | Path, engine: EmbeddedEngine = "auto"
) -> EdgeQdrantClient | QdrantClient:
    """An embedded Qdrant client for an on-disk ``path``.

    Args:
        path: the storage directory (created 0700 if missing).
        engine: ``"edge"`` (Qdrant Edge), ``"local"`` (qdrant-client local mode) or ``"auto"``:
            Edge, except for a directory that local mode already wrote (it keeps working;
            move it to Edge with the store's ``backup``/``restore``).
    """
    if engine not in EMBEDDED_ENGINES:
        raise ValueError(f"engine={engine!r} is not one of {list(EMBEDDED_ENGINES)}")
    directory = Path(path).expanduser()
    if engine == "local" or (engine == "auto" and (directory / LOCAL_MODE_MARKER).exists()):
        private_dir(directory, "Qdrant directory")
        return QdrantClient(path=str(directory))
    return EdgeQdrantClient(path=directory)
