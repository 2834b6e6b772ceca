"""SafeCache: bytes/JSON only, tampered entries are misses that never execute."""

from __future__ import annotations

import os
import pickle
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.cache import SafeCache, cache_key, decode_array, encode_array

pytestmark = pytest.mark.unit


class _CreatesFile:
    """Unpickling this creates a file: proof that a payload ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def _tamper(cache: SafeCache, key: str, *, mode: int, value: bytes | None) -> None:
    con = sqlite3.connect(str(cache.directory / "cache.db"))
    with con:
        con.execute(
            "UPDATE Cache SET mode = ?, value = ? WHERE key = ?",
            (mode, sqlite3.Binary(value) if value is not None else None, key),
        )
    con.close()


def test_bytes_and_json_round_trip(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path / "c", namespace="t")
    assert cache.get_bytes("missing") is None
    cache.set_bytes("b", b"\x00\x01")
    cache.set_json("j", {"a": [1, 2.5, "x", None, True]})
    assert cache.get_bytes("b") == b"\x00\x01"
    assert cache.get_json("j") == {"a": [1, 2.5, "x", None, True]}
    big = os.urandom(100_000)  # stored as a value file, not inline
    cache.set_bytes("big", big)
    assert cache.get_bytes("big") == big
    assert cache.stats.hits == 3 and cache.stats.misses == 1
    assert cache.delete("b") and cache.get_bytes("b") is None
    assert cache.clear() == 2
    cache.close()


def test_refuses_non_bytes_values(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path)
    with pytest.raises(TypeError):
        cache.set_bytes("k", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.set_json("k", {1, 2})
    with pytest.raises(TypeError):
        cache._cache.set("k", {"a": 1})  # diskcache would pickle this


@pytest.mark.parametrize("inline", [True, False])
def test_tampered_pickle_is_rejected_evicted_and_never_runs(tmp_path: Path, inline: bool) -> None:
    cache = SafeCache(tmp_path / "c")
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFile(str(marker)))
    if inline:
        cache.set_bytes("k", b"innocent")
        _tamper(cache, "k", mode=4, value=payload)  # 4 == diskcache MODE_PICKLE
    else:
        cache.set_bytes("k", os.urandom(50_000))
        con = sqlite3.connect(str(cache.directory / "cache.db"))
        (filename,) = con.execute("SELECT filename FROM Cache WHERE key = 'k'").fetchone()
        con.close()
        (cache.directory / filename).write_bytes(payload)
        _tamper(cache, "k", mode=4, value=None)
    # A second process (fresh instance) must refuse it as well.
    other = SafeCache(tmp_path / "c")
    assert other.get_bytes("k") is None
    assert other.get_json("k") is None
    assert not marker.exists()
    assert other.stats.rejected == 1 and other.stats.evictions == 1
    assert len(other) == 0


def test_value_file_outside_directory_is_rejected(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path / "c")
    cache.set_bytes("k", os.urandom(50_000))
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not read or delete")
    con = sqlite3.connect(str(cache.directory / "cache.db"))
    with con:
        con.execute("UPDATE Cache SET filename = ? WHERE key = 'k'", (str(secret),))
    con.close()
    assert cache.get_bytes("k") is None
    assert cache.stats.rejected == 1
    assert secret.read_bytes() == b"do not read or delete"


def test_tampered_settings_are_ignored(tmp_path: Path) -> None:
    SafeCache(tmp_path, namespace="n").close()
    con = sqlite3.connect(str(tmp_path / "n" / "cache.db"))
    with con:
        con.execute("INSERT INTO Settings VALUES ('_disk', 'boom')")
        con.execute(
            "UPDATE Settings SET value = 'least-frequently-used' WHERE key = 'eviction_policy'"
        )
    con.close()
    cache = SafeCache(tmp_path, namespace="n", eviction_policy="least-recently-stored")
    cache.set_bytes("k", b"v")
    assert cache.get_bytes("k") == b"v"
    assert cache._cache.eviction_policy == "least-recently-stored"


def test_json_garbage_is_a_counted_miss(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path)
    cache.set_bytes("k", b"\xff not json")
    assert cache.get_json("k") is None
    assert cache.stats.rejected == 1 and cache.get_bytes("k") is None


def test_directory_created_private_and_unsafe_one_refused(tmp_path: Path) -> None:
    SafeCache(tmp_path / "new")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(ValueError, match="chmod 700"):
        SafeCache(open_dir)


def test_argument_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="namespace"):
        SafeCache(tmp_path, namespace="../x")
    with pytest.raises(ValueError, match="eviction_policy"):
        SafeCache(tmp_path, eviction_policy="random")
    with pytest.raises(ValueError, match="size_limit"):
        SafeCache(tmp_path, size_limit=0)


def test_size_limit_evicts_and_counts(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path, size_limit=300_000)
    for i in range(30):
        cache.set_bytes(f"k{i}", os.urandom(40_000))
    assert cache.stats.evictions > 0
    assert cache.volume() <= 300_000 + 100_000
    assert cache.get_bytes("k29") is not None


def test_tokens_are_stable_until_bumped(tmp_path: Path) -> None:
    a = SafeCache(tmp_path)
    b = SafeCache(tmp_path)
    t = a.get_token("epoch")
    assert b.get_token("epoch") == t
    t2 = b.bump_token("epoch")
    assert t2 != t and a.get_token("epoch") == t2
    a.delete("epoch")
    assert a.get_token("epoch") not in (t, t2)


def test_metrics_registry(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    a = SafeCache(tmp_path, namespace="a", registry=registry)
    SafeCache(tmp_path, namespace="b", registry=registry)  # no duplicate-metric error
    a.get_bytes("x")
    value = registry.get_sample_value(
        "ragdrop_cache_events_total", {"namespace": "a", "event": "misses"}
    )
    assert value == 1.0


def test_cache_key_canonical() -> None:
    assert cache_key("m", a=1, b=[1, 2]) == cache_key("m", b=[1, 2], a=1)
    assert cache_key("m", a=1) != cache_key("m", a=1.5)
    assert cache_key(b"xy") != cache_key("xy")
    assert cache_key(np.ones(3, np.float32)) != cache_key(np.ones(3, np.float64))
    assert len(cache_key()) == 64
    with pytest.raises(TypeError):
        cache_key(object())


@given(
    st.sampled_from(["<f4", "<f8", "<f2", "<i8", "|u1", "|b1"]),
    st.lists(st.integers(0, 5), max_size=3),
)
def test_array_codec_round_trip(dtype: str, shape: list[int]) -> None:
    arr = (np.arange(int(np.prod(shape)) if shape else 1) % 7).astype(dtype).reshape(shape)
    out = decode_array(encode_array(arr))
    assert out.dtype == arr.dtype and out.shape == arr.shape
    assert np.array_equal(out, arr)


def test_array_codec_refuses_bad_input() -> None:
    with pytest.raises(TypeError):
        encode_array(np.array([object()]))
    data = encode_array(np.ones(4, np.float32))
    with pytest.raises(ValueError):
        decode_array(data[:-1])
    with pytest.raises(ValueError):
        decode_array(b"RDA1\x03|O8\x01" + b"\x01" + b"\x00" * 7 + b"\x00" * 8)
    with pytest.raises(ValueError):
        decode_array(b"garbage")


def test_set_many_bytes_is_atomic_and_validated(tmp_path: Path) -> None:
    cache = SafeCache(tmp_path)
    cache.set_many_bytes([("a", b"1"), ("b", b"2")])
    assert cache.get_bytes("a") == b"1" and cache.get_bytes("b") == b"2"
    with pytest.raises(TypeError):
        cache.set_many_bytes([("c", b"3"), ("d", "not bytes")])  # type: ignore[list-item]
    assert cache.get_bytes("c") is None
