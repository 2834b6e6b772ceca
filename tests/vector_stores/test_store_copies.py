"""CachedQdrantVectorStore as LlamaIndex treats components: deep copies, to_dict/from_dict.

A deep copy is a second store over the same client (a client is a connection; a local-mode
client holds its folder's lock), with copied settings, the same query cache and listeners.
Serialised settings never carry the client or its credentials.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import make_nodes
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from ragdrop.core.protocols import WriteEvent
from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore
from ragdrop.vector_stores.settings import CollectionSettings

pytestmark = pytest.mark.integration


def _ids(store: CachedQdrantVectorStore, vector: list[float], k: int = 5) -> list[str]:
    result = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=k))
    return [n.node_id for n in result.nodes or []]


@pytest.mark.parametrize("hybrid", [False, True], ids=["dense", "hybrid"])
def test_a_deep_copy_queries_and_writes_the_same_collection(
    qdrant_client: Any, tmp_path: Path, hybrid: bool
) -> None:
    nodes = make_nodes(20)
    store = CachedQdrantVectorStore(
        "copies", client=qdrant_client, cache_dir=tmp_path / "cache", enable_hybrid=hybrid
    )
    store.add(nodes[:10])
    probe = list(nodes[12].embedding or [])
    before = _ids(store, probe)  # cached in the shared query cache
    twin = copy.deepcopy(store)
    assert twin is not store and twin.client is store.client
    assert twin.to_dict() == store.to_dict()
    assert twin.settings is not store.settings
    assert _ids(twin, probe) == before
    twin.add(nodes[10:])  # a write through the copy is seen by the original at once
    assert _ids(store, probe)[0] == "node-12" == _ids(twin, probe)[0]
    if hybrid:
        query = VectorStoreQuery(
            query_embedding=probe,
            query_str=nodes[12].text,
            similarity_top_k=3,
            mode=VectorStoreQueryMode.HYBRID,
        )
        assert twin.query(query).ids == store.query(query).ids


async def test_a_deep_copy_works_async(qdrant_memory: Any) -> None:
    nodes = make_nodes(6)
    store = CachedQdrantVectorStore("copies", client=qdrant_memory)
    twin = copy.deepcopy(store)
    await twin.async_add(nodes)
    query = VectorStoreQuery(query_embedding=list(nodes[2].embedding or []), similarity_top_k=1)
    assert (await store.aquery(query)).ids == (await twin.aquery(query)).ids


def test_a_deep_copy_notifies_the_same_listeners(qdrant_memory: Any) -> None:
    events: list[WriteEvent] = []
    store = CachedQdrantVectorStore("copies", client=qdrant_memory)
    store.add_write_listener(events.append)
    twin = copy.deepcopy(store)
    twin.add(make_nodes(3))
    assert len(events) == 1 and twin.write_listeners() == store.write_listeners()


def test_to_json_and_back_keeps_every_setting(qdrant_memory: Any, tmp_path: Path) -> None:
    store = CachedQdrantVectorStore(
        "round-trip",
        client=qdrant_memory,
        settings=CollectionSettings(hnsw_ef=64, payload_indexes={"colour": "keyword"}),
        cache_dir=tmp_path / "cache",
        cache_ttl=12.5,
        cache_scope="shared-scope",
        enable_hybrid=True,
        hybrid_fusion="rrf",
        rrf_k=20,
        batch_size=64,
    )
    text = store.to_json()
    data = json.loads(text)
    assert data["cache_dir"] == str(tmp_path / "cache") and data["cache_ttl"] == 12.5
    restored = CachedQdrantVectorStore.from_json(text, client=qdrant_memory)
    assert restored.to_dict() == store.to_dict()
    assert restored.cache_dir == tmp_path / "cache" and restored.settings == store.settings
    again = CachedQdrantVectorStore.from_dict(store.to_dict(), client=qdrant_memory)
    again.add(make_nodes(3))
    assert again.query_cache is not None and _ids(again, list(make_nodes(3)[1].embedding or []))
    with pytest.raises(ValueError, match="client=QdrantClient"):
        CachedQdrantVectorStore.from_dict(data)  # settings only: the client is passed again


def test_serialised_settings_hold_no_credentials(tmp_path: Path) -> None:
    from qdrant_client import AsyncQdrantClient, QdrantClient

    secret = "s3cr3t-api-key-never-serialised"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an API key over http: irrelevant, nothing is sent
        client = QdrantClient(
            url="http://localhost:6333", api_key=secret, check_compatibility=False
        )
        aclient = AsyncQdrantClient(
            url="http://localhost:6333", api_key=secret, check_compatibility=False
        )
    store = CachedQdrantVectorStore(
        "remote", client=client, aclient=aclient, cache_dir=tmp_path / "cache"
    )
    for text in (store.to_json(), repr(store.to_dict()), store.model_dump_json()):
        assert secret not in text and "localhost" not in text
    twin = copy.deepcopy(store)  # no network call: nothing listens on that port
    assert twin.client is client and twin.aclient is aclient
    assert secret not in twin.to_json()


def test_a_copy_keeps_its_own_settings(qdrant_memory: Any) -> None:
    store = CachedQdrantVectorStore("copies", client=qdrant_memory, batch_size=8)
    twin = copy.deepcopy(store)
    twin.batch_size = 99
    assert store.batch_size == 8
    twin.add([TextNode(text="x", id_="00000000-0000-0000-0000-00000000000a", embedding=[1.0] * 16)])
    assert store.get_nodes(node_ids=["00000000-0000-0000-0000-00000000000a"])
