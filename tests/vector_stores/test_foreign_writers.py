"""Never stale, also for foreign writers (issue 16, item 3).

The consistency model under test (see `CachedQdrantVectorStore` and README):

* writes through any ragdrop store sharing the cache, or through any writer on the same
  client object (LlamaIndex's ``QdrantVectorStore``, direct ``client.upsert``/``delete``),
  invalidate at once;
* writes the store cannot see (another process or client object; here: the class's method
  called past the instance, which is what such a writer amounts to) are caught by the
  point-count check at most ``freshness_interval`` seconds later, also across restarts.

Run on Qdrant ``:memory:``, an on-disk local-mode path and Qdrant Edge.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import pytest
from conftest import DIM, make_nodes
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client.http import models as qm

from ragdrop.core.protocols import WriteEvent
from ragdrop.retrievers import HybridRetriever
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


def _uid(i: int) -> str:
    return str(uuid.UUID(int=i + 1))


def _query(top_k: int = 50) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=[1.0] + [0.0] * (DIM - 1), similarity_top_k=top_k)


def _vector(x: float = 1.0) -> list[float]:
    return [x] + [0.1] * (DIM - 1)


def _store(client: Any, cache: Path, **kwargs: Any) -> CachedQdrantVectorStore:
    store = CachedQdrantVectorStore("docs", client=client, cache_dir=cache, **kwargs)
    store.add(make_nodes(6))
    store.query(_query())  # cached
    return store


def _ids(store: CachedQdrantVectorStore) -> set[str]:
    return set(store.query(_query()).ids or [])


def test_llamaindex_store_on_the_same_client_invalidates(client: Any, tmp_path: Path) -> None:
    store = _store(client, tmp_path / "cache", freshness_interval=None)
    theirs = QdrantVectorStore("docs", client=client)
    node = TextNode(text="foreign", id_=_uid(1), embedding=_vector())
    theirs.add([node])
    assert _uid(1) in _ids(store)
    theirs.delete_nodes([_uid(1)])
    assert _uid(1) not in _ids(store)


def test_direct_client_writes_invalidate(client: Any, tmp_path: Path) -> None:
    store = _store(client, tmp_path / "cache", freshness_interval=None)
    client.upsert("docs", [qm.PointStruct(id=_uid(2), vector=_vector(), payload={"t": "x"})])
    assert _uid(2) in _ids(store)
    client.set_payload("docs", payload={"colour": "gold"}, points=[_uid(2)])
    hits = store.query(_query())
    assert hits.nodes is not None
    gold = [n for n in hits.nodes if n.node_id == _uid(2)]
    assert gold and gold[0].metadata.get("colour") == "gold"
    client.delete("docs", points_selector=qm.PointIdsList(points=[_uid(2)]))
    assert _uid(2) not in _ids(store)


def test_a_dropped_collection_is_not_served_from_cache(client: Any, tmp_path: Path) -> None:
    store = _store(client, tmp_path / "cache", freshness_interval=None)
    client.delete_collection("docs")
    assert _ids(store) == set()


def test_async_client_writes_invalidate(tmp_path: Path) -> None:
    async def scenario() -> tuple[set[str], set[str]]:
        aclient = AsyncQdrantClient(location=":memory:")
        store = CachedQdrantVectorStore(
            "docs", aclient=aclient, cache_dir=tmp_path / "cache", freshness_interval=None
        )
        await store.async_add(make_nodes(4))
        before = set((await store.aquery(_query())).ids or [])
        point = qm.PointStruct(id=_uid(3), vector=_vector(), payload={"t": "x"})
        await aclient.upsert("docs", [point])
        after = set((await store.aquery(_query())).ids or [])
        await aclient.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert _uid(3) not in before
    assert _uid(3) in after


def test_unseen_writers_are_caught_by_the_point_count_check(client: Any, tmp_path: Path) -> None:
    unchecked = _store(client, tmp_path / "a", freshness_interval=None)
    checked = _store(client, tmp_path / "b", freshness_interval=0.2)
    unchecked.query(_query())  # cached again after checked's add
    hidden = qm.PointStruct(id=_uid(4), vector=_vector(), payload={"t": "x"})
    type(client).upsert(client, "docs", [hidden])  # past the instance: nobody is told
    # without the check only the TTL bounds it: the cached result is served
    assert _uid(4) not in _ids(unchecked)
    deadline = time.monotonic() + 5
    while _uid(4) not in _ids(checked):
        assert time.monotonic() < deadline, "the freshness check never caught the write"
        time.sleep(0.05)


def test_the_check_holds_across_a_restart(tmp_path: Path) -> None:
    path, cache = str(tmp_path / "qdrant"), tmp_path / "cache"
    client = QdrantClient(path=path)
    store = _store(client, cache)
    assert _uid(5) not in _ids(store)
    store.close()
    client.close()
    # another program writes while no ragdrop store is open
    other = QdrantClient(path=path)
    other.upsert("docs", [qm.PointStruct(id=_uid(5), vector=_vector(), payload={"t": "x"})])
    other.close()
    client = QdrantClient(path=path)
    reopened = CachedQdrantVectorStore("docs", client=client, cache_dir=cache)
    assert _uid(5) in _ids(reopened)
    reopened.close()
    client.close()


class _Events:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def __call__(self, event: WriteEvent) -> None:
        self.kinds.append(str(event.kind))


def test_own_and_copied_writes_are_not_foreign(client: Any, tmp_path: Path) -> None:
    store = _store(client, tmp_path / "cache")
    events = _Events()
    store.add_write_listener(events)
    store.add(make_nodes(2, seed=7))
    twin = copy.deepcopy(store)
    twin.delete_nodes(["node-0"])
    assert events.kinds == ["add", "delete_nodes"]


def test_another_store_learns_of_the_write_and_its_bm25_follows(
    client: Any, tmp_path: Path
) -> None:
    ours = CachedQdrantVectorStore("docs", client=client, cache_dir=tmp_path / "a")
    ours.add(make_nodes(6))
    other = CachedQdrantVectorStore("docs", client=client, cache_dir=tmp_path / "b")
    other.query(_query())
    hybrid = HybridRetriever.from_vector_store(
        ours, embed_model=MockEmbedding(embed_dim=DIM), similarity_top_k=3, feedback=None
    )
    theirs = QdrantVectorStore("docs", client=client)
    node = TextNode(text="zeppelin airships drift", id_=_uid(6), embedding=_vector())
    theirs.add([node])
    bundle_hits = hybrid.bm25.retrieve("zeppelin") if hybrid.bm25 is not None else []
    assert [h.node.node_id for h in bundle_hits][:1] == [_uid(6)]
    ours.add(make_nodes(1, seed=9))  # a ragdrop write through the same client
    assert _uid(6) in _ids(other)


def test_a_failing_listener_never_breaks_the_other_writer(client: Any, tmp_path: Path) -> None:
    store = _store(client, tmp_path / "cache")

    def broken(event: WriteEvent) -> None:
        raise RuntimeError("listener down")

    store.add_write_listener(broken)
    theirs = QdrantVectorStore("docs", client=client)
    theirs.add([TextNode(text="x", id_=_uid(7), embedding=_vector())])  # does not raise
    store.remove_write_listener(broken)
    assert _uid(7) in _ids(store)


def test_watching_does_not_keep_the_client_alive(tmp_path: Path) -> None:
    path = str(tmp_path / "qdrant")
    client = QdrantClient(path=path)
    store = CachedQdrantVectorStore("docs", client=client, cache_dir=tmp_path / "cache")
    store.add(make_nodes(3))
    ref = weakref.ref(client)
    client.close()
    del client, store
    gc.collect()
    assert ref() is None
    again = QdrantClient(path=path)  # the folder is free again
    assert again.count("docs").count == 3
    again.close()
