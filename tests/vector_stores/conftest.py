"""Fixtures for the Qdrant store tests: deterministic nodes with embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from qdrant_client import QdrantClient

from ragdrop.qdrant_edge import EdgeQdrantClient

DIM = 16


def make_nodes(n: int, *, seed: int = 0, doc_of: int = 3) -> list[TextNode]:
    """``n`` nodes with random unit vectors, typed metadata and a source document."""
    rng = np.random.default_rng(seed)
    colours = ["red", "green", "blue"]
    nodes = []
    for i in range(n):
        vector = rng.normal(size=DIM)
        vector /= np.linalg.norm(vector)
        nodes.append(
            TextNode(
                id_=f"node-{i}",
                text=f"passage {i} about {colours[i % 3]} apples and topic{i % 5}",
                metadata={
                    "i": i,
                    "score": i / 2,
                    "colour": colours[i % 3],
                    "tags": [colours[i % 3], f"t{i % 4}"],
                    "title": f"Title number {i}",
                },
                embedding=vector.tolist(),
                relationships={
                    NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{i % doc_of}")
                },
            )
        )
    return nodes


@pytest.fixture()
def nodes() -> list[TextNode]:
    return make_nodes(30)


@pytest.fixture(params=["memory", "disk", "edge"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh client on each engine: qdrant-client ``:memory:``, an on-disk local-mode path
    and Qdrant Edge (closed afterwards)."""
    if request.param == "memory":
        made: Any = QdrantClient(location=":memory:")
    elif request.param == "disk":
        made = QdrantClient(path=str(tmp_path / "qdrant"))
    else:
        made = EdgeQdrantClient(path=tmp_path / "edge")
    yield made
    made.close()
