"""QueryResultCache's in-process layer: never serves after a write, bounded, expires with the
disk entry, never hands out shared objects. Real diskcache directories and real processes."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ragdrop.cache import QueryResultCache, SafeCache

pytestmark = pytest.mark.unit

SCOPE, COLLECTION = "qdrant:/data", "docs"


def stored(qc: QueryResultCache, value: object, **fields: object) -> str:
    """``value`` put under the current epoch; its key."""
    epoch = qc.epoch(SCOPE, COLLECTION)
    key = qc.key(epoch, **fields)
    assert qc.put(key, value, scope=SCOPE, collection=COLLECTION, epoch=epoch)
    return key


def current_key(qc: QueryResultCache, **fields: object) -> str:
    """The key a consumer computes now (it reads the epoch on every lookup)."""
    return qc.key(qc.epoch(SCOPE, COLLECTION), **fields)


def test_a_repeat_is_served_from_memory_as_a_new_object(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    key = stored(qc, {"ids": ["a"], "nested": {"x": [1]}}, q=1)
    first = qc.get(key)
    assert first == {"ids": ["a"], "nested": {"x": [1]}}
    first["nested"]["x"].append(2)
    assert qc.get(key) == {"ids": ["a"], "nested": {"x": [1]}}
    assert qc.memory_stats.hits == 2 and qc.memory_stats.misses == 0


def test_decoded_once_per_entry_and_a_refused_decoding_is_a_miss(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    key = stored(qc, {"n": 1}, q=1)
    calls: list[object] = []

    def decode(value: object) -> tuple[object, ...]:
        calls.append(value)
        return (value,)

    assert qc.get_decoded(key, decode) == ({"n": 1},)
    assert qc.get_decoded(key, decode) is qc.get_decoded(key, decode)
    assert len(calls) == 1
    refused: list[object] = []
    assert qc.get_decoded(key, lambda v: refused.append(v)) is None
    assert qc.get_decoded(current_key(qc, q=2), decode) is None


def test_a_write_in_this_process_makes_held_results_unreachable(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    stored(qc, {"ids": ["old"]}, q=1)
    assert qc.get(current_key(qc, q=1)) == {"ids": ["old"]}
    qc.bump(SCOPE, COLLECTION)
    assert qc.get(current_key(qc, q=1)) is None
    assert qc.get_decoded(current_key(qc, q=1), tuple) is None


def test_a_write_through_another_instance_makes_held_results_unreachable(tmp_path: Path) -> None:
    reader = QueryResultCache(SafeCache(tmp_path, namespace="queries"), ttl=60)
    writer = QueryResultCache(SafeCache(tmp_path, namespace="queries"), ttl=60)
    stored(reader, {"ids": ["old"]}, q=1)
    assert reader.get(current_key(reader, q=1)) == {"ids": ["old"]}
    writer.bump(SCOPE, COLLECTION)
    assert reader.get(current_key(reader, q=1)) is None


def test_a_write_from_another_process_makes_held_results_unreachable(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path, namespace="queries"), ttl=60)
    stored(qc, {"ids": ["old"]}, q=1)
    assert qc.get(current_key(qc, q=1)) == {"ids": ["old"]}
    assert qc.memory_stats.hits == 1
    script = (
        "import sys\n"
        "from ragdrop.cache import QueryResultCache, SafeCache\n"
        "qc = QueryResultCache(SafeCache(sys.argv[1], namespace='queries'))\n"
        "qc.bump(sys.argv[2], sys.argv[3])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), SCOPE, COLLECTION], check=True, timeout=120
    )
    assert qc.get(current_key(qc, q=1)) is None
    fresh = stored(qc, {"ids": ["new"]}, q=1)
    assert qc.get(current_key(qc, q=1)) == {"ids": ["new"]} and fresh == current_key(qc, q=1)


def test_a_held_result_expires_with_its_disk_entry(tmp_path: Path) -> None:
    writer = QueryResultCache(SafeCache(tmp_path), ttl=0.4)
    key = stored(writer, {"ids": ["a"]}, q=1)
    reader = QueryResultCache(SafeCache(tmp_path), ttl=300)  # its own TTL must not extend it
    assert reader.get(key) == {"ids": ["a"]}  # read from disk, now held by the reader
    time.sleep(0.5)
    assert writer.get(key) is None
    assert reader.get(key) is None
    assert reader.get_decoded(key, tuple) is None


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe not json",
        b'{"ids": ["bare format of the earlier version"]}',
        b'{"expires_at": "tomorrow", "value": 1}',
        b'{"expires_at": 1.0, "value": {"ids": ["expired long ago"]}}',
        b"[1, 2]",
    ],
)
def test_a_damaged_or_foreign_disk_entry_is_a_miss(tmp_path: Path, bad: bytes) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60)
    key = stored(qc, {"ids": ["a"]}, q=1)
    qc.cache.set_bytes(key, bad)
    qc.forget_memory()  # what another process, or this one after a restart, sees
    assert qc.get(key) is None
    assert qc.get_decoded(key, tuple) is None
    stored(qc, {"ids": ["b"]}, q=1)  # repaired by the next put
    qc.forget_memory()
    assert qc.get(key) == {"ids": ["b"]}


def test_memory_is_bounded_in_entries(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60, memory_entries=3)
    keys = [stored(qc, {"i": i}, q=i) for i in range(5)]
    assert qc.memory_stats.evictions == 2
    assert qc.get(keys[4]) == {"i": 4} and qc.memory_stats.hits == 1
    assert qc.get(keys[0]) == {"i": 0}  # evicted from memory: read from disk, held again
    assert qc.memory_stats.misses == 1
    assert qc.get(keys[0]) == {"i": 0} and qc.memory_stats.hits == 2


def test_memory_is_bounded_in_bytes(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60, memory_bytes=1_000)
    small = [stored(qc, {"text": "x" * 300}, q=i) for i in range(4)]
    assert qc.memory_stats.evictions >= 1
    big = stored(qc, {"text": "y" * 2_000}, q="big")  # larger than the bound: never held
    for _ in range(2):
        assert qc.get(big) == {"text": "y" * 2_000}
    hits = qc.memory_stats.hits
    assert qc.get(small[-1]) is not None and qc.memory_stats.hits == hits + 1


def test_no_memory_reads_disk_every_time(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60, memory_entries=0)
    key = stored(qc, {"ids": ["a"]}, q=1)
    assert qc.get(key) == {"ids": ["a"]} and qc.get_decoded(key, tuple) == ("ids",)
    assert qc.memory_stats.hits == 0 and qc.memory_stats.misses == 2


def test_threads_share_one_bounded_memory(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60, memory_entries=8)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(40):
                key = stored(qc, {"t": t, "i": i}, q=(t, i % 10))
                value = qc.get(key)
                assert value is not None and value["t"] == t
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(qc._held) <= 8
    assert qc._held_bytes == sum(len(h.raw) for h in qc._held.values())


def test_copies_reopen_the_directory_with_an_empty_memory(tmp_path: Path) -> None:
    qc = QueryResultCache(SafeCache(tmp_path), ttl=60, memory_entries=5, memory_bytes=10_000)
    key = stored(qc, {"ids": ["a"]}, q=1)
    clone = copy.deepcopy(qc)
    assert (clone.ttl, clone.memory_entries, clone.memory_bytes) == (60.0, 5, 10_000)
    assert clone.get(key) == {"ids": ["a"]} and clone.memory_stats.misses == 1


@pytest.mark.parametrize(
    "kwargs", [{"memory_entries": -1}, {"memory_bytes": True}, {"memory_entries": 1.5}]
)
def test_memory_bounds_are_validated(tmp_path: Path, kwargs: dict[str, object]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        QueryResultCache(SafeCache(tmp_path), **kwargs)  # type: ignore[arg-type]
