"""Two processes share a Qdrant path and a cache directory; cached queries are never stale.

Each step runs in this process or in a worker process, through a fresh store (local-mode
Qdrant allows one open client per path, so each step opens and closes its own). The model is
a plain dict of the points that must exist; every query's answer is checked against it.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIM = 8
NODE_IDS = [f"n{i}" for i in range(6)]
DOCS = ["d0", "d1"]
_RNG = np.random.default_rng(7)
NODE_VECTORS = {n: _RNG.normal(size=DIM).tolist() for n in NODE_IDS}
QUERIES = [_RNG.normal(size=DIM).tolist() for _ in range(3)]


def apply(qdrant_path: str, cache_dir: str, op: str, args: Any) -> Any:
    """Run one operation through a fresh CachedQdrantVectorStore (same code in both processes)."""
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from qdrant_client import QdrantClient

    from ragdrop.vector_stores import CachedQdrantVectorStore

    client = QdrantClient(path=qdrant_path)
    try:
        store = CachedQdrantVectorStore("sm", client=client, cache_dir=cache_dir, cache_ttl=3600)
        if op == "add":
            node_id, doc, version = args
            node = TextNode(
                id_=node_id,
                text=f"{node_id} v{version}",
                metadata={"version": version},
                embedding=NODE_VECTORS[node_id],
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
            )
            store.add([node])
            return None
        if op == "delete_doc":
            store.delete(args)
            return None
        if op == "delete_nodes":
            store.delete_nodes(list(args))
            return None
        if op == "query":
            q_index, k = args
            result = store.query(
                VectorStoreQuery(query_embedding=QUERIES[q_index], similarity_top_k=k)
            )
            return [(n.node_id, n.metadata["version"]) for n in result.nodes]
        raise ValueError(op)
    finally:
        store.close()
        client.close()


def _serve(conn: Any) -> None:
    while True:
        message = conn.recv()
        if message is None:
            return
        try:
            conn.send(("ok", apply(*message)))
        except Exception as exc:  # reported back and re-raised in the test process
            conn.send(("error", repr(exc)))


@pytest.fixture(scope="module")
def worker() -> Iterator[Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    yield parent
    parent.send(None)
    process.join(timeout=30)


def _expected(model: dict[str, tuple[str, int]], q_index: int, k: int) -> list[tuple[str, int]]:
    query = np.array(QUERIES[q_index])
    scored = []
    for node_id, (_doc, version) in model.items():
        v = np.array(NODE_VECTORS[node_id])
        scored.append(
            (float(v @ query / np.linalg.norm(v) / np.linalg.norm(query)), node_id, version)
        )
    scored.sort(reverse=True)
    return [(node_id, version) for _s, node_id, version in scored[:k]]


def test_cross_process_cache_is_never_stale(
    worker: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    class SharedCache(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            root = tmp_path_factory.mktemp("sm")
            self.qdrant = str(root / "qdrant")
            self.cache = str(root / "cache")
            self.model: dict[str, tuple[str, int]] = {}
            self.version = 0

        def run(self, remote: bool, op: str, args: Any) -> Any:
            if not remote:
                return apply(self.qdrant, self.cache, op, args)
            worker.send((self.qdrant, self.cache, op, args))
            status, value = worker.recv()
            if status != "ok":
                raise AssertionError(f"worker failed: {value}")
            return value

        @initialize()
        def seed(self) -> None:
            self.add(False, "n0", "d0")

        @rule(remote=st.booleans(), node_id=st.sampled_from(NODE_IDS), doc=st.sampled_from(DOCS))
        def add(self, remote: bool, node_id: str, doc: str) -> None:
            self.version += 1
            self.run(remote, "add", (node_id, doc, self.version))
            self.model[node_id] = (doc, self.version)

        @rule(remote=st.booleans(), doc=st.sampled_from(DOCS))
        def delete_doc(self, remote: bool, doc: str) -> None:
            self.run(remote, "delete_doc", doc)
            self.model = {k: v for k, v in self.model.items() if v[0] != doc}

        @rule(remote=st.booleans(), ids=st.lists(st.sampled_from(NODE_IDS), min_size=1, max_size=2))
        def delete_nodes(self, remote: bool, ids: list[str]) -> None:
            self.run(remote, "delete_nodes", ids)
            for node_id in ids:
                self.model.pop(node_id, None)

        @rule(
            remote=st.booleans(),
            q_index=st.integers(0, len(QUERIES) - 1),
            k=st.sampled_from([1, 3]),
        )
        def query(self, remote: bool, q_index: int, k: int) -> None:
            got = self.run(remote, "query", (q_index, k))
            assert got == _expected(self.model, q_index, k)

        @invariant()
        def repeated_query_agrees(self) -> None:
            # The query most likely to be cached, asked from the other process.
            if self.model:
                assert self.run(True, "query", (0, 3)) == _expected(self.model, 0, 3)

    run = settings(max_examples=12, stateful_step_count=12, deadline=None)(SharedCache).TestCase
    run().runTest()
