"""`CachedQdrantVectorStore(cache_url=...)`: the query cache and its epochs in a real Redis.

A real ``redis-server`` per test (the ``redis_server`` fixture), Qdrant local mode, and a
second store standing in for another process's (it shares only the Redis).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient

from ragdrop.cache import RedisCache
from ragdrop.vector_stores import CachedQdrantVectorStore

pytestmark = pytest.mark.integration


def node(i: int, vector: list[float]) -> TextNode:
    return TextNode(
        text=f"passage {i}", id_=f"00000000-0000-0000-0000-00000000000{i}", embedding=vector
    )


def ask(store: CachedQdrantVectorStore) -> list[str]:
    result = store.query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0], similarity_top_k=3))
    return list(result.ids or [])


def test_results_are_cached_in_redis_and_a_write_elsewhere_invalidates(
    redis_server: Any,
) -> None:
    client = QdrantClient(":memory:")
    one = CachedQdrantVectorStore(
        "docs", client=client, cache_url=redis_server.url, freshness_interval=None
    )
    two = CachedQdrantVectorStore(
        "docs", client=client, cache_url=redis_server.url, freshness_interval=None
    )
    one.add([node(1, [1.0, 0.0, 0.0]), node(2, [0.0, 1.0, 0.0])])
    first = ask(one)
    cache = one.query_cache
    assert cache is not None and isinstance(cache.cache, RedisCache)
    assert ask(two) == first  # the other store finds the entry in Redis
    assert two.query_cache is not None and two.query_cache.cache.stats.hits > 0
    two.add([node(3, [0.9, 0.1, 0.0])])
    after = ask(one)
    assert after != first and "00000000-0000-0000-0000-000000000003" in after
    client.close()


def test_the_password_never_leaves_the_process(redis_server_factory: Any) -> None:
    server = redis_server_factory(password="s3cret-pw")
    client = QdrantClient(":memory:")
    store = CachedQdrantVectorStore("docs", client=client, cache_url=server.url)
    store.add([node(1, [1.0, 0.0, 0.0])])
    assert ask(store) == ask(store)
    data = store.to_dict()
    text = store.to_json() + repr(store) + str(store) + repr(copy.deepcopy(store))
    assert "s3cret-pw" not in text
    assert data["cache_url"] == f"redis://:***@127.0.0.1:{server.port}/0"
    assert json.loads(store.to_json())["cache_url"] == data["cache_url"]
    copied = copy.deepcopy(store)
    assert copied.cache_url is not None and copied.cache_url.get_secret_value() == server.url
    client.close()


def test_bad_cache_urls_are_refused_by_name(tmp_path: Path) -> None:
    client = QdrantClient(":memory:")
    with pytest.raises(ValueError, match="cache_url=.*not a Redis URL") as bad:
        CachedQdrantVectorStore("docs", client=client, cache_url="http://:pw@host/0")
    assert "pw@" not in str(bad.value)
    with pytest.raises(ValueError, match="cache_dir or cache_url, not both"):
        CachedQdrantVectorStore(
            "docs", client=client, cache_url="redis://127.0.0.1:1/0", cache_dir=tmp_path
        )
    client.close()


def test_redis_down_means_uncached_answers_not_errors(redis_server: Any) -> None:
    client = QdrantClient(":memory:")
    store = CachedQdrantVectorStore(
        "docs", client=client, cache_url=redis_server.url, freshness_interval=0
    )
    store.add([node(1, [1.0, 0.0, 0.0]), node(2, [0.0, 1.0, 0.0])])
    expected = ask(store)
    redis_server.kill()
    assert ask(store) == expected and ask(store) == expected
    cache = store.query_cache
    assert cache is not None and isinstance(cache.cache, RedisCache)
    assert not cache.cache.healthy and cache.cache.degraded_reason
    client.close()
