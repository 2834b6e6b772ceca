"""The SQLite conversation store: bounds, TTL, persistence, damaged files, JSON only."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from ragdrop.core.files import UnsafePathError
from ragdrop.pipeline.conversations import (
    DB_NAME,
    ConversationStore,
    SqliteConversationStore,
    UnknownConversationError,
    bound_history,
)

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def turn(i: int, size: int = 10) -> dict[str, object]:
    return {"message": f"q{i}".ljust(size, "."), "answer": "a", "sources": [{"ref_doc_id": "d"}]}


def test_turns_round_trip_and_delete(tmp_path: Path) -> None:
    store = SqliteConversationStore(tmp_path / "conv")
    assert isinstance(store, ConversationStore)
    cid = store.create()
    assert len(cid) >= 32 and cid != store.create()
    assert store.append(cid, turn(1)) == 1
    assert store.append(cid, turn(2)) == 2
    kept = store.turns(cid)
    assert kept is not None
    assert [t["turn"] for t in kept] == [1, 2]
    assert kept[0]["sources"] == [{"ref_doc_id": "d"}]
    assert store.delete(cid) is True
    assert store.turns(cid) is None
    assert store.delete(cid) is False
    with pytest.raises(UnknownConversationError):
        store.append(cid, turn(3))
    store.close()


def test_history_is_bounded_by_turns_and_characters(tmp_path: Path) -> None:
    store = SqliteConversationStore(tmp_path / "conv", max_turns=3, max_chars=1_000)
    cid = store.create()
    for i in range(1, 6):
        store.append(cid, turn(i))
    assert [t["turn"] for t in store.turns(cid) or []] == [3, 4, 5]
    small = SqliteConversationStore(tmp_path / "small", max_turns=10, max_chars=25)
    cid = small.create()
    for i in range(1, 5):
        small.append(cid, turn(i))  # 11 characters a turn: two fit
    assert [t["turn"] for t in small.turns(cid) or []] == [3, 4]
    small.append(cid, turn(5, size=500))  # the newest turn is kept even alone over the limit
    assert [t["turn"] for t in small.turns(cid) or []] == [5]


def test_bound_history_keeps_the_newest() -> None:
    turns = [turn(i) for i in range(6)]
    assert bound_history(turns, 2, 10_000) == turns[-2:]
    assert bound_history(turns, 10, 1) == turns[-1:]


def test_idle_conversations_expire(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteConversationStore(tmp_path / "conv", ttl_seconds=60, clock=clock)
    idle, active = store.create(), store.create()
    store.append(idle, turn(1))
    clock.now += 50
    store.append(active, turn(1))  # a turn renews the conversation
    clock.now += 20
    assert store.turns(idle) is None
    assert store.turns(active) is not None
    with pytest.raises(UnknownConversationError):
        store.append(idle, turn(2))
    assert store.delete(idle) is False
    clock.now += 61
    store.create()  # purges every expired row
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 1


def test_conversations_survive_reopening(tmp_path: Path) -> None:
    first = SqliteConversationStore(tmp_path / "conv")
    cid = first.create()
    first.append(cid, turn(1))
    first.close()
    second = SqliteConversationStore(tmp_path / "conv")
    assert second.append(cid, turn(2)) == 2
    assert [t["message"] for t in second.turns(cid) or []] == ["q1........", "q2........"]


def test_rows_are_json_text(tmp_path: Path) -> None:
    store = SqliteConversationStore(tmp_path / "conv")
    cid = store.create()
    store.append(cid, {"message": "é", "answer": "x"})
    with sqlite3.connect(store.path) as con:
        raw = con.execute("SELECT turns FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    assert isinstance(raw, str)
    assert json.loads(raw)[0]["message"] == "é"
    assert mode == "wal"
    assert os.stat(store.path).st_mode & 0o077 == 0


def test_a_damaged_database_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "conv"
    directory.mkdir(mode=0o700)
    (directory / DB_NAME).write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="ragdrop.pipeline.conversations"):
        store = SqliteConversationStore(directory)
    assert "was unusable" in caplog.text and "starting empty" in caplog.text
    assert (directory / f"{DB_NAME}.corrupt").read_bytes() == b"not a database" * 100
    cid = store.create()
    assert store.append(cid, turn(1)) == 1


def test_a_symlinked_database_is_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "conv"
    directory.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"precious")
    (directory / DB_NAME).symlink_to(target)
    store = SqliteConversationStore(directory)
    store.append(store.create(), turn(1))
    assert target.read_bytes() == b"precious"
    assert not (directory / DB_NAME).is_symlink()


def test_a_directory_in_place_of_the_database_is_moved_aside(tmp_path: Path) -> None:
    directory = tmp_path / "conv"
    (directory / DB_NAME / "inside").mkdir(parents=True, mode=0o700)
    for _ in range(2):  # the second time, the first bad copy is replaced
        store = SqliteConversationStore(directory)
        store.append(store.create(), turn(1))
        store.close()
        for side in directory.glob(f"{DB_NAME}-*"):
            side.unlink()
        (directory / DB_NAME).unlink()
        (directory / DB_NAME).mkdir()
    assert (directory / f"{DB_NAME}.corrupt").is_dir()
    assert not (directory / f"{DB_NAME}.corrupt" / "inside").exists()


def test_an_unreadable_history_row_is_forgotten(tmp_path: Path) -> None:
    store = SqliteConversationStore(tmp_path / "conv")
    cid = store.create()
    with sqlite3.connect(store.path) as con:
        con.execute("UPDATE conversations SET turns = '{broken' WHERE id = ?", (cid,))
    assert store.turns(cid) is None


def test_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        SqliteConversationStore(directory)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("ttl_seconds", True), ("ttl_seconds", 0), ("max_turns", 1.5), ("max_chars", -1)],
)
def test_bad_bounds_name_the_argument(tmp_path: Path, argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=argument):
        SqliteConversationStore(tmp_path / "conv", **{argument: value})  # type: ignore[arg-type]
