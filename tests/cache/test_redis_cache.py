"""RedisCache against a real redis-server: round trips, TTL, size cap, shared epochs, foreign
values, outages and recovery, passwords that never leak, TLS, and `open_cache`."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from ragdrop.cache import (
    CacheBackend,
    CachedEmbedding,
    QueryResultCache,
    RedisCache,
    SafeCache,
    open_cache,
)
from ragdrop.cache.redis_cache import FORMAT_VERSION, KEY_PREFIX, seal

pytestmark = pytest.mark.integration
# Generous for a loaded test machine; the outage tests use their own short timeouts.
TIMEOUT_MS = 2000


def _cache(server: Any, namespace: str = "test", **options: Any) -> RedisCache:
    options.setdefault("timeout_ms", TIMEOUT_MS)
    if getattr(server, "tls", False):
        options.setdefault("ssl_ca_certs", str(server.ca_file))
    return RedisCache(server.url, namespace=namespace, **options)


def _raw(server: Any) -> redis.Redis:
    """A plain client, to look at and plant keys behind the cache's back."""
    return redis.Redis.from_url(server.url)


def _until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_round_trips_and_namespaced_keys(redis_server: Any) -> None:
    cache, other = _cache(redis_server), _cache(redis_server, namespace="other")
    cache.set_bytes("b", b"\x00\xffbytes")
    cache.set_json("j", {"ids": ["a", "é"], "n": 1.5})
    cache.set_many_bytes([("m1", b"one"), ("m2", bytearray(b"two"))])
    assert cache.get_bytes("b") == b"\x00\xffbytes"
    assert cache.get_json("j") == {"ids": ["a", "é"], "n": 1.5}
    assert [cache.get_bytes("m1"), cache.get_bytes("m2")] == [b"one", b"two"]
    assert other.get_bytes("b") is None and len(other) == 0
    assert len(cache) == 4
    names = sorted(_raw(redis_server).keys("*"))
    assert (
        names[0] == f"{KEY_PREFIX}test:b".encode() and KEY_PREFIX == f"ragdrop:v{FORMAT_VERSION}:"
    )
    assert cache.stats.hits == 4 and cache.stats.misses == 0
    assert cache.delete("b") and not cache.delete("b")
    other.set_bytes("kept", b"x")
    assert cache.clear() == 3 and len(cache) == 0 and other.get_bytes("kept") == b"x"
    with pytest.raises(TypeError, match="must be bytes"):
        cache.set_bytes("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be str"):
        cache.get_bytes(b"k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expire=0"):
        cache.set_bytes("k", b"v", expire=0)


def test_ttl_expires_entries_but_never_tokens(redis_server: Any) -> None:
    cache = _cache(redis_server, ttl=3600)
    raw = _raw(redis_server)
    cache.set_bytes("short", b"v", expire=0.05)
    cache.set_bytes("default", b"v")
    token = cache.get_token("epoch")
    assert 0 < raw.pttl(f"{KEY_PREFIX}test:default") <= 3600 * 1000
    assert raw.pttl(f"{KEY_PREFIX}test:epoch") == -1  # no TTL on an epoch
    cache.bump_token("epoch")
    assert raw.pttl(f"{KEY_PREFIX}test:epoch") == -1
    assert _until(lambda: cache.get_bytes("short") is None)
    assert cache.get_bytes("default") == b"v" and cache.get_token("epoch") != token


def test_size_cap_skips_and_counts_and_drops_the_older_value(redis_server: Any) -> None:
    cache = _cache(redis_server, max_entry_bytes=100)
    cache.set_bytes("k", b"small")
    cache.set_bytes("k", b"x" * 200)
    assert cache.get_bytes("k") is None  # never the older value in its place
    assert cache.stats.too_large == 1 and cache.stats.skipped_writes == 1
    cache.set_many_bytes([("a", b"ok"), ("b", b"y" * 500)])
    assert cache.get_bytes("a") == b"ok" and cache.get_bytes("b") is None
    assert cache.stats.too_large == 2


def test_epochs_are_shared_between_instances_at_once(redis_server: Any) -> None:
    first, second = _cache(redis_server), _cache(redis_server)
    token = first.get_token("epoch:docs")
    assert second.get_token("epoch:docs") == token
    bumped = second.bump_token("epoch:docs")
    assert bumped != token and first.get_token("epoch:docs") == bumped
    # Created atomically: instances racing on a fresh key all see one token.
    caches = [_cache(redis_server) for _ in range(8)]
    seen: list[str] = []
    threads = [threading.Thread(target=lambda c=c: seen.append(c.get_token("new"))) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1


def test_foreign_values_are_counted_misses(redis_server: Any) -> None:
    cache, raw = _cache(redis_server), _raw(redis_server)
    prefix = f"{KEY_PREFIX}test:"
    other_version = seal(b"payload").replace(
        bytes([FORMAT_VERSION]), bytes([FORMAT_VERSION + 1]), 1
    )
    raw.set(prefix + "version", other_version)
    raw.set(prefix + "garbage", b"\x80\x04\x95 not ours")
    raw.set(prefix + "flipped", seal(b"payload")[:-1] + b"X")
    raw.hset(prefix + "hash", "field", "value")
    raw.set(prefix + "json", seal(b"{not json"))
    raw.set(prefix + "epoch", b"not-a-token")
    for key in ("version", "garbage", "flipped", "hash"):
        assert cache.get_bytes(key) is None
        assert not raw.exists(prefix + key)  # evicted
    assert cache.get_json("json") is None
    assert cache.stats.rejected == 5 and cache.stats.misses == 4 and cache.stats.evictions == 5
    token = cache.get_token("epoch")
    assert len(token) == 32 and cache.get_token("epoch") == token
    assert cache.stats.rejected == 6


def _kill_checks(cache: RedisCache, server: Any) -> None:
    cache.set_bytes("k", b"v")
    server.kill()
    assert cache.get_bytes("k") is None and cache.get_json("j") is None
    cache.set_bytes("k2", b"v")
    cache.set_many_bytes([("a", b"1"), ("b", b"2")])
    first, second = cache.get_token("epoch"), cache.get_token("epoch")
    assert first != second  # nothing can be cached under either
    assert cache.delete("k") is False and cache.clear() == 0 and len(cache) == 0
    assert not cache.healthy and not cache.ping()
    assert cache.degraded_reason is not None and "ConnectionError" in cache.degraded_reason
    assert cache.stats.misses >= 4 and cache.stats.skipped_writes == 3
    with pytest.raises(RuntimeError, match="could not record a write"):
        cache.bump_token("epoch")


def test_redis_killed_is_misses_and_degraded_then_recovers(redis_server: Any) -> None:
    cache = _cache(redis_server, timeout_ms=200, retry_interval=0.01)
    _kill_checks(cache, redis_server)
    redis_server.start()  # same port, empty database
    assert _until(cache.ping)
    assert cache.healthy and cache.degraded_reason is None
    cache.set_bytes("k", b"back")
    assert cache.get_bytes("k") == b"back"


def test_back_off_skips_redis_until_the_interval_passes(redis_server: Any) -> None:
    cache = _cache(redis_server, timeout_ms=200, retry_interval=3600)
    cache.set_bytes("k", b"v")
    redis_server.kill()
    assert cache.get_bytes("k") is None and not cache.healthy
    redis_server.start()
    errors = cache.stats.errors
    cache.set_bytes("k", b"v")
    assert cache.get_bytes("k") is None and not cache.healthy  # not even tried
    assert cache.stats.errors == errors + 2
    # An epoch write is never lost to the back-off: it is tried, and heals the cache.
    token = cache.bump_token("epoch")
    assert cache.healthy and cache.get_token("epoch") == token


def test_slow_redis_times_out_in_milliseconds(redis_server: Any) -> None:
    cache = _cache(redis_server, timeout_ms=50, retry_interval=0.01)
    cache.set_bytes("k", b"v")
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        assert cache.get_bytes("k") is None
        assert cache.degraded_reason is not None and "Timeout" in cache.degraded_reason
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert _until(lambda: cache.get_bytes("k") == b"v") and cache.healthy


def test_no_network_call_in_the_constructor() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", namespace="lazy")
    assert cache.healthy and cache.stats.errors == 0
    assert cache.get_bytes("k") is None and not cache.healthy


def test_password_works_and_never_leaks(
    redis_server_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Pa55"
    server = redis_server_factory(password=secret)
    registry = CollectorRegistry()
    cache = _cache(server, registry=registry)
    cache.set_json("k", [1])
    assert cache.get_json("k") == [1]
    for copied in (copy.deepcopy(cache), pickle.loads(pickle.dumps(cache))):
        assert copied.get_json("k") == [1]
    wrong = RedisCache(server.url.replace(secret, "wrong-pw"), namespace="test", registry=registry)
    anonymous = RedisCache(server.url.replace(f":{secret}@", ""), namespace="test")
    with caplog.at_level(logging.DEBUG):
        assert wrong.get_bytes("k") is None and anonymous.get_bytes("k") is None
        server.kill()
        assert cache.get_bytes("k") is None
        with pytest.raises(RuntimeError) as bump_error:
            cache.bump_token("epoch")
    assert not wrong.healthy and not anonymous.healthy
    for bad in (f"redis://:{secret}@127.0.0.1:notaport/0", f"redis://:{secret}@host/0?db=x"):
        with pytest.raises(ValueError) as url_error:
            RedisCache(bad)
        assert "***" in str(url_error.value)
        assert secret not in str(url_error.value) and secret not in repr(url_error.value)
    with pytest.raises(ValueError) as scheme_error:
        open_cache(f"http://:{secret}@host/")
    texts = [
        repr(cache),
        str(cache),
        cache.url,
        repr(cache.__getstate__()),
        str(cache.degraded_reason),
        str(wrong.degraded_reason),
        str(anonymous.degraded_reason),
        str(bump_error.value),
        str(scheme_error.value),
        caplog.text,
        generate_latest(registry).decode(),
    ]
    assert cache.url == server.url.replace(secret, "***")
    for text in texts:
        assert secret not in text


def test_tls(redis_server_factory: Any) -> None:
    server = redis_server_factory(password="tls-pw", tls=True)
    assert server.url.startswith("rediss://")
    cache = _cache(server)
    cache.set_bytes("k", b"over tls")
    assert cache.get_bytes("k") == b"over tls" and cache.healthy
    unverified = RedisCache(server.url, namespace="test", timeout_ms=TIMEOUT_MS)
    assert unverified.get_bytes("k") is None and not unverified.healthy  # unknown CA refused
    plain = RedisCache(server.url.replace("rediss://", "redis://"), timeout_ms=TIMEOUT_MS)
    assert plain.get_bytes("k") is None and not plain.healthy


def test_metrics_count_hits_and_misses(redis_server: Any) -> None:
    registry = CollectorRegistry()
    cache = _cache(redis_server, namespace="queries", registry=registry)
    cache.set_bytes("k", b"v")
    cache.get_bytes("k")
    cache.get_bytes("absent")

    def value(event: str) -> float | None:
        labels = {"namespace": "queries", "event": event}
        return registry.get_sample_value("ragdrop_cache_events_total", labels)

    assert value("hits") == 1 and value("misses") == 1


def test_argument_validation() -> None:
    with pytest.raises(ValueError, match="not a Redis URL"):
        RedisCache("http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="namespace"):
        RedisCache("redis://127.0.0.1:6379", namespace="a b")
    with pytest.raises(TypeError, match="url must be a str"):
        RedisCache(b"redis://x")  # type: ignore[arg-type]
    for name, bad in (("ttl", 0), ("timeout_ms", -1), ("retry_interval", True)):
        with pytest.raises(ValueError, match=name):
            RedisCache("redis://127.0.0.1:6379", **{name: bad})
    with pytest.raises(ValueError, match="max_entry_bytes"):
        RedisCache("redis://127.0.0.1:6379", max_entry_bytes=1.5)  # type: ignore[arg-type]


def test_open_cache_dispatch(tmp_path: Path) -> None:
    on_disk = open_cache(tmp_path / "c", namespace="queries", eviction_policy="none")
    assert isinstance(on_disk, SafeCache) and on_disk.eviction_policy == "none"
    assert isinstance(open_cache(str(tmp_path / "d")), SafeCache)
    remote = open_cache("redis://:pw@127.0.0.1:6379/2", namespace="queries", timeout_ms=10)
    assert isinstance(remote, RedisCache) and remote.timeout_ms == 10
    assert isinstance(open_cache("REDISS://127.0.0.1:6380/0"), RedisCache)
    for backend in (on_disk, remote):
        assert isinstance(backend, CacheBackend)
    with pytest.raises(ValueError, match="location=.*unsupported scheme 'memcached'"):
        open_cache("memcached://127.0.0.1:11211")
    with pytest.raises(ValueError, match="location"):
        open_cache(" ")
    with pytest.raises(TypeError, match="location"):
        open_cache(42)  # type: ignore[arg-type]


def test_query_result_cache_on_redis_never_serves_stale(redis_server: Any, tmp_path: Path) -> None:
    def query_cache() -> QueryResultCache:
        return QueryResultCache(_cache(redis_server, namespace="queries"), ttl=60)

    one, two = query_cache(), query_cache()
    epoch = one.epoch("scope", "docs")
    key = one.key(epoch, top_k=3, vector="v")
    assert one.put(key, {"ids": ["a"]}, scope="scope", collection="docs", epoch=epoch)
    assert two.epoch("scope", "docs") == epoch and two.get(key) == {"ids": ["a"]}
    two.bump("scope", "docs")  # a write through the other process's store
    fresh = one.epoch("scope", "docs")
    assert fresh != epoch and one.get(one.key(fresh, top_k=3, vector="v")) is None
    assert not one.put(key, {"ids": ["stale"]}, scope="scope", collection="docs", epoch=epoch)


def test_cached_embedding_on_redis(redis_server: Any, embed_model: Any, tmp_path: Path) -> None:
    def embedding() -> CachedEmbedding:
        return CachedEmbedding(embed_model=embed_model, cache_url=redis_server.url)

    first = embedding()
    vector = first.get_query_embedding("what is qdrant?")
    second = embedding()
    assert second.get_query_embedding("what is qdrant?") == vector
    assert second.cache.stats.hits == 1
    assert second.get_text_embedding_batch(["a", "what is qdrant?"])[0] == first.get_text_embedding(
        "a"
    )
