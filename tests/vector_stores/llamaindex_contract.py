"""The harness of the LlamaIndex contract suite (``test_llamaindex_contract*.py``).

Each behaviour that LlamaIndex's ``BasePydanticVectorStore`` promises, that its
``QdrantVectorStore`` tests check, or that its core store tests (``SimpleVectorStore``)
define, is written once and run on a matrix: the implementation (``ours``:
`CachedQdrantVectorStore`; ``llama``: ``llama_index.vector_stores.qdrant.QdrantVectorStore``)
× the engine (qdrant-client ``:memory:``, an on-disk path, Qdrant Edge through
`EdgeQdrantClient`) × the I/O path (sync methods, or their async twins).

Our store must pass every case. Where LlamaIndex's store fails a case, the case is marked
a strict xfail on LlamaIndex's side only (`llama_fails`), with the reason: the claim "our
store passes every behaviour LlamaIndex's own Qdrant store passes" is then what the suite
shows, and a LlamaIndex upgrade that fixes one turns its xfail into a failure to update.

The fixtures here are module-scoped; a test module takes them by assigning them to
module names (``impl, backend, io, engine = harness.impl, ...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import AsyncQdrantClient, QdrantClient

from ragdrop.vector_stores import (
    AsyncEdgeQdrantClient,
    CachedQdrantVectorStore,
    EdgeQdrantClient,
    hashed_term_frequencies,
)

IMPLS = ("ours", "llama")
BACKENDS = ("memory", "disk", "edge")
IOS = ("sync", "async")


def uid(i: int) -> str:
    """A node id that is a UUID (LlamaIndex's store uses node ids as point ids)."""
    return f"00000000-0000-4000-8000-{i:012d}"


def contract_nodes() -> list[TextNode]:
    """Six nodes in three documents with typed metadata and 3-d embeddings.

    Node 1 is a near-duplicate of node 0 (MMR), node 5 is the only one with "zebra" in its
    text (sparse search) and is far from [1, 0, 0] (hybrid finds it by keyword only).
    """
    rows: list[tuple[list[float], str, dict[str, Any], str]] = [
        (
            [1.0, 0.0, 0.0],
            "apples grow on trees",
            {"rank": "a", "weight": 1.0, "count": 1, "tags": ["alpha", "beta"],
             "title": "alpha beta", "some_key": 1},
            "doc-a",
        ),
        (
            [0.99, 0.05, 0.0],
            "apples grow on trees too",
            {"rank": "b", "weight": 2.0, "count": 2, "tags": ["beta"],
             "title": "Gamma ALPHA", "some_key": 2},
            "doc-a",
        ),
        (
            [0.6, 0.8, 0.0],
            "bananas are yellow",
            {"rank": "c", "weight": 3.0, "count": 3, "tags": [], "title": "delta",
             "some_key": "3"},
            "doc-b",
        ),
        (
            [0.0, 1.0, 0.0],
            "cherries are red",
            {"rank": "c", "weight": 4.5, "count": 4, "tags": ["gamma", "alpha"],
             "title": "epsilon alpha", "some_key": 4, "extra": "x"},
            "doc-b",
        ),
        (
            [0.0, 0.6, 0.8],
            "kiwis are green",
            {"rank": "d", "weight": 5.0, "count": 5, "tags": ["delta"], "title": "zeta",
             "extra": "y"},
            "doc-c",
        ),
        (
            [0.0, 0.0, 1.0],
            "a zebra eats grass",
            {"rank": "e", "weight": 6.0, "count": 6, "tags": ["beta", "gamma"],
             "title": "eta theta", "extra": "z"},
            "doc-c",
        ),
    ]  # fmt: skip
    return [
        TextNode(
            id_=uid(i),
            text=text,
            metadata=metadata,
            embedding=vector,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
        )
        for i, (vector, text, metadata, doc) in enumerate(rows)
    ]


# -- the matrix ---------------------------------------------------------------------------------
class Engine:
    """Clients of one engine at one place, opened for the sync or the async path.

    ``:memory:`` and on-disk local mode get one client (a sync and an async local client do
    not share data, and a path can be opened once); Edge gets both, sharing storage.
    """

    def __init__(self, backend: str, path: Path, io: str) -> None:
        self.backend, self.path, self.io = backend, path, io
        self.client: Any = None
        self.aclient: Any = None
        self.open()

    def open(self) -> None:
        if self.backend == "edge":
            self.client = EdgeQdrantClient(path=self.path / "edge")
            self.aclient = AsyncEdgeQdrantClient(self.client)
            return
        where: dict[str, Any] = (
            {"location": ":memory:"}
            if self.backend == "memory"
            else {"path": str(self.path / "qd")}
        )
        if self.io == "sync":
            self.client = QdrantClient(**where)
        else:
            self.aclient = AsyncQdrantClient(**where)

    async def drop(self, collection: str) -> None:
        if self.client is not None:
            if self.client.collection_exists(collection_name=collection):
                self.client.delete_collection(collection_name=collection)
        elif await self.aclient.collection_exists(collection_name=collection):
            await self.aclient.delete_collection(collection_name=collection)

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
        elif self.aclient is not None:
            await self.aclient.close()
        self.client = self.aclient = None

    async def reopen(self) -> None:
        """Close and open the same place again (for on-disk engines)."""
        await self.close()
        self.open()


def build_store(
    impl: str,
    engine: Engine,
    *,
    collection: str = "contract",
    hybrid: bool = False,
    text_key: str = "text",
) -> Any:
    """``impl``'s store over ``engine``'s clients (hybrid with the same sparse encoder)."""
    sparse: dict[str, Any] = {}
    if hybrid:
        sparse = {"sparse_doc_fn": hashed_term_frequencies,
                  "sparse_query_fn": hashed_term_frequencies}  # fmt: skip
    cls = CachedQdrantVectorStore if impl == "ours" else QdrantVectorStore
    return cls(
        collection,
        client=engine.client,
        aclient=engine.aclient,
        enable_hybrid=hybrid,
        text_key=text_key,
        **sparse,
    )


class Contract:
    """One store driven through its sync methods or their async twins."""

    def __init__(self, store: Any, io: str) -> None:
        self.store, self.aio = store, io == "async"

    async def add(self, nodes: Sequence[BaseNode]) -> list[str]:
        nodes = list(nodes)
        return await self.store.async_add(nodes) if self.aio else self.store.add(nodes)

    async def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if self.aio:
            return await self.store.aquery(query, **kwargs)
        return self.store.query(query, **kwargs)

    async def delete(self, ref_doc_id: str) -> None:
        if self.aio:
            await self.store.adelete(ref_doc_id)
        else:
            self.store.delete(ref_doc_id)

    async def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> None:
        if self.aio:
            await self.store.adelete_nodes(node_ids=node_ids, filters=filters)
        else:
            self.store.delete_nodes(node_ids=node_ids, filters=filters)

    async def clear(self) -> None:
        if self.aio:
            await self.store.aclear()
        else:
            self.store.clear()

    async def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **kwargs: Any,
    ) -> list[BaseNode]:
        if self.aio:
            return list(await self.store.aget_nodes(node_ids=node_ids, filters=filters, **kwargs))
        return list(self.store.get_nodes(node_ids=node_ids, filters=filters, **kwargs))

    async def ids(self, query: VectorStoreQuery, **kwargs: Any) -> list[str]:
        """The node ids a query returns, in order (read from the nodes)."""
        result = await self.query(query, **kwargs)
        return [n.node_id for n in result.nodes or []]

    async def stored(self) -> list[str]:
        """Every stored node id, sorted."""
        return sorted(n.node_id for n in await self.get_nodes())


def llama_fails(
    request: pytest.FixtureRequest, impl: str, reason: str, backends: Sequence[str] = BACKENDS
) -> None:
    """Mark this case a strict xfail when it runs LlamaIndex's store on one of ``backends``.

    Never applied to our store: it must pass every case.
    """
    if impl == "llama" and request.node.callspec.params.get("backend", "memory") in backends:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"LlamaIndex: {reason}"))


# Module-scoped: one engine per (engine, I/O path) and one filled store per implementation
# for the read-only cases; each writing case gets a collection of its own on that engine.
@pytest.fixture(scope="module", params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=IOS)
def io(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
async def engine(
    backend: str, io: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Engine]:
    opened = Engine(backend, tmp_path_factory.mktemp(f"{backend}-{io}"), io)
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
async def reader(impl: str, engine: Engine) -> Contract:
    """A store holding `contract_nodes`, shared by the cases that only read."""
    store = Contract(build_store(impl, engine, collection=f"reader-{impl}"), engine.io)
    await store.add(contract_nodes())
    return store


@pytest.fixture(scope="module")
async def hybrid_reader(impl: str, engine: Engine) -> Contract:
    store = Contract(build_store(impl, engine, collection=f"hybrid-{impl}", hybrid=True), engine.io)
    await store.add(contract_nodes())
    return store


@pytest.fixture()
async def contract(
    impl: str, engine: Engine, request: pytest.FixtureRequest
) -> AsyncIterator[Contract]:
    """An empty store on a collection of this case's own (dropped afterwards)."""
    name = f"w-{impl}-{request.node.originalname}"
    yield Contract(build_store(impl, engine, collection=name), engine.io)
    await engine.drop(name)


@pytest.fixture()
async def filled(contract: Contract) -> Contract:
    await contract.add(contract_nodes())
    return contract


def dense(vector: Sequence[float], top_k: int = 10, **kwargs: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=list(vector), similarity_top_k=top_k, **kwargs)


# Query vectors whose cosine similarities to the six nodes are at least 0.017 apart (no ties).
Q1, Q2, Q3, Q4 = [0.9, 0.35, 0.2], [0.7, 0.5, 0.3], [0.3, 0.5, 0.9], [0.2, 0.9, 0.4]


def by_similarity(vector: Sequence[float], nodes: Sequence[TextNode] | None = None) -> list[str]:
    """Node ids by cosine similarity to ``vector``, best first (the reference ranking)."""
    import numpy as np

    nodes = list(nodes) if nodes is not None else contract_nodes()
    matrix = np.asarray([n.embedding for n in nodes], dtype=float)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    q = np.asarray(vector, dtype=float)
    scores = matrix @ (q / np.linalg.norm(q))
    order = np.argsort(-scores, kind="stable")
    return [nodes[i].node_id for i in order]
