"""Where chat conversations live between turns: a small interface and its SQLite store.

A conversation is a list of turns (JSON objects) under an unguessable id. The store keeps
the history bounded (the last ``max_turns`` turns, and older turns dropped while the
messages and answers exceed ``max_chars`` characters) and forgets a conversation idle for
longer than ``ttl_seconds``. `ConversationStore` is what the chat logic needs, so a store on
another backend (Redis, issue 18) only implements those four methods.

`SqliteConversationStore` is one SQLite file in a private directory (``data_dir /
"conversations"`` by default): WAL journal, one transaction per change (a kill leaves the
old or the new conversation, never a part), JSON text only (nothing is unpickled). A file
that is a symlink, not a regular file, or that SQLite cannot read is moved aside
(``conversations.db.corrupt``) with a logged reason, and an empty store is started: a chat
server never fails to start over its history.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> store = SqliteConversationStore(Path(tempfile.mkdtemp()) / "conversations")
    >>> cid = store.create()
    >>> store.append(cid, {"message": "hello", "answer": "hi"})
    1
    >>> [turn["message"] for turn in store.turns(cid)]
    ['hello']
    >>> store.delete(cid), store.turns(cid)
    (True, None)
    >>> store.close()
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ragdrop.cache import cache_db
from ragdrop.core.files import private_dir
from ragdrop.core.validation import is_int

logger = logging.getLogger(__name__)

T = TypeVar("T")
Turn = dict[str, Any]
DB_NAME = "conversations.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    updated_at REAL NOT NULL,
    turn_count INTEGER NOT NULL,
    turns TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations (updated_at);
"""


class UnknownConversationError(KeyError):
    """No conversation with this id (never started, deleted, or expired)."""


@runtime_checkable
class ConversationStore(Protocol):
    """What the chat logic needs from a conversation store."""

    def create(self) -> str:
        """Start an empty conversation; return its new unguessable id."""
        ...

    def turns(self, conversation_id: str) -> list[Turn] | None:
        """The kept turns, oldest first; None when the id is unknown or expired."""
        ...

    def append(self, conversation_id: str, turn: Turn) -> int:
        """Add ``turn`` and trim the history; return its 1-based turn number.

        Raises `UnknownConversationError` when the id is unknown or expired.
        """
        ...

    def delete(self, conversation_id: str) -> bool:
        """Forget a conversation; False when there was none."""
        ...


def bound_history(turns: list[Turn], max_turns: int, max_chars: int) -> list[Turn]:
    """The newest turns that fit ``max_turns`` and ``max_chars`` (message + answer); the
    newest turn is always kept.

    >>> turns = [{"message": "a" * 6, "answer": "b" * 4}, {"message": "c", "answer": "d"}]
    >>> [t["message"] for t in bound_history(turns, max_turns=5, max_chars=10)]
    ['c']
    """
    kept = turns[-max_turns:]
    size = sum(_turn_chars(t) for t in kept)
    while len(kept) > 1 and size > max_chars:
        size -= _turn_chars(kept[0])
        kept = kept[1:]
    return kept


def _turn_chars(turn: Turn) -> int:
    return len(str(turn.get("message", ""))) + len(str(turn.get("answer", "")))


def _positive(name: str, value: object, *, number: bool = False) -> None:
    ok = (
        (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))
        if number
        else is_int(value)
    )
    if not ok or value <= 0:  # type: ignore[operator]
        kind = "a positive number" if number else "a positive integer"
        raise ValueError(f"{name} must be {kind}, got {value!r}")


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[None]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class SqliteConversationStore:
    """Conversations in one SQLite file under ``directory`` (see the module docstring).

    Args:
        directory: a private directory (created 0700; refused when others may write it).
        ttl_seconds: a conversation idle this long is gone (default one day).
        max_turns: turns kept per conversation (older ones are dropped).
        max_chars: characters of messages and answers kept per conversation.
        clock: seconds since the epoch (tests move it forward).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        ttl_seconds: float = 86_400.0,
        max_turns: int = 20,
        max_chars: int = 16_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _positive("ttl_seconds", ttl_seconds, number=True)
        _positive("max_turns", max_turns)
        _positive("max_chars", max_chars)
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {type(clock).__name__}")
        self.directory = private_dir(directory, "conversation directory")
        self.path = self.directory / DB_NAME
        self.ttl_seconds = float(ttl_seconds)
        self.max_turns = max_turns
        self.max_chars = max_chars
        self._clock = clock
        self._lock = threading.Lock()
        self._con = self._open()

    # -- the database file ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(
            str(self.path), timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            row = con.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
            con.executescript(_SCHEMA)
            os.chmod(self.path, 0o600)
        except BaseException:
            con.close()
            raise
        return con

    def _open(self) -> sqlite3.Connection:
        """Connect, moving a damaged file aside first (then one fresh start)."""
        reason = cache_db.damage_before_open(self.directory, DB_NAME)
        if reason is None:
            try:
                return self._connect()
            except sqlite3.DatabaseError as exc:
                if not cache_db.is_damage(exc):
                    raise
                reason = str(exc)
        self._move_aside(reason)
        return self._connect()

    def _move_aside(self, reason: str) -> None:
        aside = cache_db.move_aside(self.directory, DB_NAME)
        logger.warning(
            "conversation store %s was unusable (%s); moved to %s, starting empty",
            self.path,
            reason,
            aside.name,
        )

    def _call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """``op`` under the lock; a database damaged meanwhile is replaced and ``op`` retried."""
        with self._lock:
            try:
                return op(self._con)
            except sqlite3.DatabaseError as exc:
                if not cache_db.is_damage(exc):
                    raise
                self._con.close()
                self._move_aside(str(exc))
                self._con = self._connect()
                return op(self._con)

    # -- ConversationStore ------------------------------------------------------------------
    def create(self) -> str:
        conversation_id = secrets.token_urlsafe(24)
        now = self._clock()

        def op(con: sqlite3.Connection) -> None:
            # Expired conversations go when new ones come, so the file stays bounded.
            with _transaction(con):
                con.execute(
                    "DELETE FROM conversations WHERE updated_at < ?", (now - self.ttl_seconds,)
                )
                con.execute(
                    "INSERT INTO conversations VALUES (?, ?, 0, '[]')", (conversation_id, now)
                )

        self._call(op)
        return conversation_id

    def _row(self, con: sqlite3.Connection, conversation_id: str) -> tuple[int, list[Turn]] | None:
        row = con.execute(
            "SELECT updated_at, turn_count, turns FROM conversations WHERE id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            return None
        updated_at, turn_count, raw = row
        if self._clock() - float(updated_at) > self.ttl_seconds:
            con.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return None
        try:
            turns = json.loads(raw)
        except (TypeError, ValueError):
            turns = None
        if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
            logger.warning(
                "conversation %s... had an unreadable history; forgot it", conversation_id[:6]
            )
            con.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return None
        return int(turn_count), turns

    def turns(self, conversation_id: str) -> list[Turn] | None:
        found = self._call(lambda con: self._row(con, conversation_id))
        return None if found is None else found[1]

    def append(self, conversation_id: str, turn: Turn) -> int:
        if not isinstance(turn, dict):
            raise TypeError(f"turn must be a dict, got {type(turn).__name__}")

        def op(con: sqlite3.Connection) -> int:
            with _transaction(con):
                found = self._row(con, conversation_id)
                if found is None:
                    raise UnknownConversationError(conversation_id)
                number = found[0] + 1
                turns = [*found[1], {**turn, "turn": number}]
                kept = bound_history(turns, self.max_turns, self.max_chars)
                con.execute(
                    "UPDATE conversations SET updated_at = ?, turn_count = ?, turns = ? "
                    "WHERE id = ?",
                    (self._clock(), number, json.dumps(kept, ensure_ascii=False), conversation_id),
                )
            return number

        return self._call(op)

    def delete(self, conversation_id: str) -> bool:
        def op(con: sqlite3.Connection) -> bool:
            alive = self._row(con, conversation_id) is not None
            con.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return alive

        return self._call(op)

    def close(self) -> None:
        """Close the database file (the store cannot be used afterwards)."""
        with self._lock:
            self._con.close()


__all__ = [
    "ConversationStore",
    "SqliteConversationStore",
    "Turn",
    "UnknownConversationError",
    "bound_history",
]
