"""The CachedQdrantVectorStore behavioural suite, run again on Qdrant Edge.

The tests of ``test_qdrant_store`` and ``test_qdrant_filters`` are imported unchanged; this
module's ``qdrant_client``/``store_and_nodes`` fixtures give them an ``EdgeQdrantClient``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_nodes
from test_qdrant_filters import *  # noqa: F403 - the filter suite, collected again here
from test_qdrant_store import *  # noqa: F403 - the store suite, collected again here

from ragdrop.qdrant_edge import EdgeQdrantClient
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


@pytest.fixture()
def qdrant_client(tmp_path: Path) -> Iterator[EdgeQdrantClient]:
    """An Edge client in place of the ``:memory:``/on-disk local-mode clients."""
    client = EdgeQdrantClient(path=tmp_path / "edge")
    yield client
    client.close()


@pytest.fixture(scope="module")
def store_and_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    client = EdgeQdrantClient(path=tmp_path_factory.mktemp("edge-filters"))
    store = CachedQdrantVectorStore("filters", client=client)
    data = make_nodes(30)
    store.add(data)
    yield store, data
    client.close()
