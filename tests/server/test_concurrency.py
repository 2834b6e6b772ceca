"""ReadWriteLock: readers share, a writer is alone, a waiting writer is not starved."""

from __future__ import annotations

import threading
import time

import pytest

from ragdrop.server.concurrency import ReadWriteLock

pytestmark = pytest.mark.unit


def test_readers_share_the_lock() -> None:
    lock = ReadWriteLock()
    with lock.read(), lock.read(timeout=0.1):
        pass


def test_writer_excludes_readers_and_readers_time_out() -> None:
    lock = ReadWriteLock()
    with lock.write():
        with pytest.raises(TimeoutError):
            with lock.read(timeout=0.05):
                pass
    with lock.read(timeout=0.05):
        pass


def test_writer_waits_for_readers_and_blocks_new_ones() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    reader_in = threading.Event()

    def reader() -> None:
        with lock.read():
            reader_in.set()
            time.sleep(0.2)
            events.append("reader done")

    def writer() -> None:
        with lock.write():
            events.append("writer")

    r = threading.Thread(target=reader)
    r.start()
    reader_in.wait()
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.05)
    # The writer is waiting: a new reader must not overtake it.
    with pytest.raises(TimeoutError):
        with lock.read(timeout=0.05):
            pass
    r.join()
    w.join()
    assert events == ["reader done", "writer"]
