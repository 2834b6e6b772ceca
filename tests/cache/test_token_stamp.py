"""Epoch tokens kept in memory while the shared stamp is unchanged: never stale.

Real diskcache folders, a second real process, and the stamp file tampered with the ways an
operator or a fault could: removed, replaced, truncated, turned into a symlink.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragdrop.cache import SafeCache
from ragdrop.cache.token_stamp import STAMP_NAME

pytestmark = pytest.mark.unit


def db_reads(cache: SafeCache) -> int:
    return cache.stats.hits + cache.stats.misses


def test_a_kept_token_is_served_without_a_query_until_a_write(tmp_path: Path) -> None:
    reader, writer = SafeCache(tmp_path), SafeCache(tmp_path)
    token = reader.get_token("epoch")
    reads = db_reads(reader)
    assert [reader.get_token("epoch") for _ in range(5)] == [token] * 5
    assert db_reads(reader) == reads, "an unchanged stamp must not query SQLite"
    bumped = writer.bump_token("epoch")
    assert reader.get_token("epoch") == bumped != token
    assert db_reads(reader) == reads + 1


def test_a_write_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    reader = SafeCache(tmp_path)
    token = reader.get_token("epoch")
    script = (
        "import sys\nfrom ragdrop.cache import SafeCache\n"
        "print(SafeCache(sys.argv[1]).bump_token('epoch'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    bumped = done.stdout.strip()
    assert reader.get_token("epoch") == bumped != token


def test_delete_and_clear_count_as_token_writes(tmp_path: Path) -> None:
    reader, writer = SafeCache(tmp_path), SafeCache(tmp_path)
    token = reader.get_token("epoch")
    writer.delete("epoch")
    fresh = reader.get_token("epoch")
    assert fresh != token
    writer.clear()
    assert reader.get_token("epoch") not in (token, fresh)


@pytest.mark.parametrize("fault", ["removed", "replaced", "truncated", "garbage"])
def test_a_tampered_stamp_file_never_hides_a_write(tmp_path: Path, fault: str) -> None:
    reader, writer = SafeCache(tmp_path), SafeCache(tmp_path)
    token = reader.get_token("epoch")
    writer.get_token("epoch")
    stamp = reader.directory / STAMP_NAME
    if fault == "removed":
        stamp.unlink()
    elif fault == "replaced":
        stamp.unlink()
        stamp.write_bytes(b"\x00" * 8)
    elif fault == "truncated":
        os.truncate(stamp, 0)
    else:
        stamp.write_bytes(b"not eight bytes at all")
    for round_ in range(3):
        bumped = writer.bump_token("epoch")
        assert reader.get_token("epoch") == bumped != token, round_
        token = bumped


def test_a_symlinked_stamp_turns_the_shortcut_off_and_stays_correct(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"12345678")
    cache_root = tmp_path / "cache"
    reader = SafeCache(cache_root)
    stamp = reader.directory / STAMP_NAME
    stamp.unlink(missing_ok=True)
    stamp.symlink_to(outside)
    writer = SafeCache(cache_root)
    token = reader.get_token("epoch")
    reads = db_reads(reader)
    assert reader.get_token("epoch") == token
    assert db_reads(reader) == reads + 1, "without the stamp every read asks SQLite"
    bumped = writer.bump_token("epoch")
    assert reader.get_token("epoch") == bumped
    assert outside.read_bytes() == b"12345678", "the stamp never writes through a symlink"
