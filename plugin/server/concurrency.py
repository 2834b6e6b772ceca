"""A readers-writer lock: questions run together, ingestion and deletion run alone.

Qdrant's local mode and the in-memory BM25 index are not safe to read while they are written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer; a waiting writer blocks new readers so it cannot starve."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self, timeout: float | None = None) -> Iterator[None]:
        """Shared access; raises TimeoutError after ``timeout`` seconds of waiting."""
        with self._cond:
            ready = self._cond.wait_for(
                lambda: not (self._writer or self._writers_waiting), timeout=timeout
            )
            if not ready:
                raise TimeoutError("a write (ingestion or deletion) holds the lock")
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
