"""A damaged cache row or database is a counted miss and the cache repairs itself (issue 14)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ragdrop.cache import QueryResultCache, SafeCache

pytestmark = pytest.mark.unit


def _sql(cache_dir: Path, query: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(str(cache_dir / "cache.db"))
    try:
        with con:
            return con.execute(query, args).fetchall()
    finally:
        con.close()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@pytest.mark.parametrize("size", [40, 60_000])  # inline row, value file
def test_flipped_bit_in_a_value_is_a_counted_miss_not_a_wrong_value(
    tmp_path: Path, size: int
) -> None:
    registry = CollectorRegistry()
    cache = SafeCache(tmp_path, namespace="n", registry=registry)
    value = os.urandom(size)
    cache.set_bytes("k", value)
    ((filename, raw),) = _sql(cache.directory, "SELECT filename, value FROM Cache WHERE key='k'")
    if filename is None:
        _sql(cache.directory, "UPDATE Cache SET value=? WHERE key='k'", (_flip(raw, 30),))
    else:
        path = cache.directory / filename
        path.write_bytes(_flip(path.read_bytes(), size // 2))
    assert cache.get_bytes("k") is None
    assert cache.stats.rejected == 1 and cache.stats.misses == 1 and cache.stats.hits == 0
    assert len(cache) == 0  # the bad row was dropped
    sample = registry.get_sample_value(
        "ragdrop_cache_events_total", {"namespace": "n", "event": "rejected"}
    )
    assert sample == 1.0
    cache.set_bytes("k", value)
    assert cache.get_bytes("k") == value


@pytest.mark.parametrize("planted", [12345, 2.5, "text", b"unsealed bytes of an old version"])
def test_wrong_type_value_planted_in_a_row_is_a_miss(tmp_path: Path, planted: object) -> None:
    cache = SafeCache(tmp_path)
    cache.set_json("j", {"ids": ["a"]})
    _sql(cache.directory, "UPDATE Cache SET value=? WHERE key='j'", (planted,))
    assert cache.get_json("j") is None
    assert cache.get_bytes("j") is None
    assert cache.stats.rejected == 1 and cache.stats.hits == 0


@pytest.mark.parametrize("planted", [7, "short", "g" * 32, b"\x00" * 32])
def test_damaged_epoch_token_is_replaced_by_a_fresh_one(tmp_path: Path, planted: object) -> None:
    cache = SafeCache(tmp_path)
    old = cache.get_token("epoch")
    _sql(cache.directory, "UPDATE Cache SET value=? WHERE key='epoch'", (planted,))
    # Another process (no token kept in memory) reads the damaged row: refused, replaced.
    other = SafeCache(tmp_path)
    token = other.get_token("epoch")
    assert token != old and token != planted and len(token) == 32
    assert other.get_token("epoch") == token
    assert other.stats.rejected == 1
    # The first instance keeps its token until a write: nothing was written, so it is not
    # stale; the next write reaches both.
    assert cache.get_token("epoch") == old
    bumped = other.bump_token("epoch")
    assert cache.get_token("epoch") == bumped == other.get_token("epoch")


def _populated(directory: Path) -> dict[str, bytes]:
    values = {f"k{i}": os.urandom(300) for i in range(2000)}
    with SafeCache(directory, namespace="q") as cache:
        cache.set_many_bytes(list(values.items()))
    return values


def _garbage(db: Path) -> None:
    db.write_bytes(os.urandom(db.stat().st_size))


def _truncated(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()
    (db / "x").write_text("not a database")


def _symlink(db: Path) -> None:
    target = db.parent.parent / "elsewhere.db"
    db.rename(target)
    db.symlink_to(target)


def _unreadable_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:16] = b"not sqlite\x00\x00\x00\x00\x00\x00"
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_garbage, _truncated, _directory, _symlink, _unreadable_header])
def test_unusable_database_is_moved_aside_and_a_fresh_cache_starts(
    tmp_path: Path, damage: object
) -> None:
    values = _populated(tmp_path)
    db = tmp_path / "q" / "cache.db"
    damage(db)  # type: ignore[operator]
    cache = SafeCache(tmp_path, namespace="q")  # never raises at open
    assert cache.get_bytes("k1999") is None  # a miss (the database is gone), never an error
    assert cache.stats.repairs == 1 and cache.stats.rejected >= 1
    assert (tmp_path / "q" / "cache.db.corrupt").exists() or (
        tmp_path / "q" / "cache.db.corrupt"
    ).is_symlink()
    assert db.is_file() and not db.is_symlink()
    cache.set_bytes("k1", values["k1"])
    assert cache.get_bytes("k1") == values["k1"]
    assert len(cache) == 1
    # A second damage later is repaired again; the older bad copy is replaced, not kept.
    cache.close()
    _garbage(db)
    again = SafeCache(tmp_path, namespace="q")
    assert again.get_bytes("k1") is None and again.stats.repairs == 1
    assert sorted(p.name for p in (tmp_path / "q").iterdir() if "corrupt" in p.name) == [
        "cache.db.corrupt"
    ]


def test_empty_database_with_stale_journal_files_is_repaired_without_waiting(
    tmp_path: Path,
) -> None:
    _populated(tmp_path)
    db = tmp_path / "q" / "cache.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").write_bytes(b"\x00" * 32768)
    db.write_bytes(b"")
    cache = SafeCache(tmp_path, namespace="q")
    cache.set_bytes("k", b"v")
    assert cache.get_bytes("k") == b"v" and cache.stats.repairs == 1


def test_damage_while_open_is_repaired_and_other_instances_follow(tmp_path: Path) -> None:
    values = _populated(tmp_path)
    first = SafeCache(tmp_path, namespace="q")
    assert first.get_bytes("k5") == values["k5"]
    token = first.get_token("epoch")
    _truncated(tmp_path / "q" / "cache.db")
    second = SafeCache(tmp_path, namespace="q")
    for key in ("k1999", "k1500", "k1000"):
        assert second.get_bytes(key) is None
    assert second.stats.repairs == 1
    # `first` still had the old file open: it notices the new file and uses it, so a token
    # bumped by `second` is the one `first` reads (no stale epoch, no split cache).
    bumped = second.bump_token("epoch")
    assert bumped != token
    assert first.get_token("epoch") == bumped
    first.set_bytes("shared", b"x")
    assert second.get_bytes("shared") == b"x"


def test_query_cache_over_a_garbage_database_answers_and_never_serves_old_results(
    tmp_path: Path,
) -> None:
    safe = SafeCache(tmp_path, namespace="queries")
    results = QueryResultCache(safe, ttl=60)
    epoch = results.epoch("scope", "docs")
    key = results.key(epoch, question="q")
    assert results.put(key, {"ids": ["old"]}, scope="scope", collection="docs", epoch=epoch)
    safe.close()
    _garbage(tmp_path / "queries" / "cache.db")
    reopened = QueryResultCache(SafeCache(tmp_path, namespace="queries"), ttl=60)
    assert reopened.get(key) is None
    fresh = reopened.epoch("scope", "docs")
    assert fresh != epoch
    assert reopened.bump("scope", "docs") != fresh


@pytest.mark.integration
def test_pipeline_answers_over_damaged_cache_databases(tmp_path: Path) -> None:
    from llama_index.core import Document

    from ragdrop.pipeline import PipelineConfig, RagPipeline

    config = PipelineConfig(data_dir=tmp_path / "data", collection="c")
    document = Document(text="The lighthouse keeper polished the brass lamp.", id_="lamp")
    with RagPipeline(config) as pipeline:
        pipeline.ingest([document])
        assert pipeline.query("who polished the brass lamp?").sources
    databases = sorted(config.cache_dir.glob("*/cache.db"))
    assert databases, "the pipeline wrote no cache"
    for db in databases:
        _garbage(db)
    with RagPipeline(config) as pipeline:
        answer = pipeline.query("who polished the brass lamp?")
        assert [s.ref_doc_id for s in answer.sources][:1] == ["lamp"]
        pipeline.ingest([Document(text="A second, unrelated note about tides.", id_="tides")])
        assert "tides" in [s.ref_doc_id for s in pipeline.query("tides note").sources]
    for db in databases:
        assert (db.parent / "cache.db.corrupt").exists()
