"""``ragdrop health --data-dir`` changes nothing: every file and folder of the data dir keeps its
name, size, mode and mtime, whether the index is intact, damaged, mid-switch or held by a
running ``ragdrop serve`` (read as it stands, without waiting for or taking the lock)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def ragdrop(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ragdrop.cli.main", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (folders too): (size, mtime in ns, mode), not following links."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def health(data_dir: Path) -> subprocess.CompletedProcess[str]:
    result = ragdrop("health", "--data-dir", str(data_dir), "--no-rerank")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir (index, manifest, BM25 state, caches) written by the real CLI."""
    root = tmp_path_factory.mktemp("indexed")
    docs = root / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text("Qdrant is a vector database written in Rust.")
    (docs / "bm25.txt").write_text("BM25 ranks documents by term frequency.")
    (docs / "bread.txt").write_text("Bread dough rises for an hour before baking.")
    result = ragdrop("ingest", str(docs), "--data-dir", str(root / "data"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return root / "data"


@pytest.fixture()
def data_dir(indexed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(indexed, copy)
    return copy


def test_health_of_an_intact_index_is_ready_and_changes_nothing(data_dir: Path) -> None:
    assert (data_dir / "cache").is_dir() and (data_dir / "bm25").is_dir()
    before = tree(data_dir)
    result = health(data_dir)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "ready"
    assert "3 chunks of 3 documents" in result.stdout
    assert tree(data_dir) == before


def _flip_nodes_byte(state: Path) -> None:
    path = state / "nodes.jsonl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate_array(state: Path) -> None:
    path = state / "index" / "df.npy"
    path.write_bytes(path.read_bytes()[:-5])


def _garbage_retriever_file(state: Path) -> None:
    (state / "retriever.json").write_bytes(b"\x00not json")


@pytest.mark.parametrize(
    "damage",
    [_flip_nodes_byte, _truncate_array, _garbage_retriever_file],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_corrupt_bm25_state_is_not_ready_and_left_as_it_is(
    data_dir: Path, damage: Callable[[Path], None]
) -> None:
    damage(data_dir / "bm25" / "ragdrop")
    before = tree(data_dir)
    result = health(data_dir)
    assert result.returncode == 1, result.stdout
    last = result.stdout.splitlines()[-1]
    assert last.startswith("not ready: bm25:") and "rebuilds it" in last, last
    assert tree(data_dir) == before  # reported, not rebuilt


def test_an_unfinished_switch_is_not_ready_and_left_to_its_owner(data_dir: Path) -> None:
    (data_dir / "restore-journal.json").write_text(json.dumps({"token": "abc", "manifest": True}))
    (data_dir / "qdrant.restore-abc").mkdir(mode=0o700)
    before = tree(data_dir)
    result = health(data_dir)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith("not ready: switch:")
    assert tree(data_dir) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_health_reads_an_index_a_running_server_holds(data_dir: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ragdrop.cli.main",
            "serve",
            "--data-dir",
            str(data_dir),
            "--no-rerank",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],  # fmt: skip
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while True:  # readiness opens the index: the server then holds the data dir
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert (data_dir / ".ragdrop.lock").read_text().strip() == str(server.pid)
        before = tree(data_dir)
        started = time.monotonic()
        result = health(data_dir)
        assert result.returncode == 0, result.stdout
        assert f"in use by process {server.pid}" in result.stdout
        assert result.stdout.splitlines()[-1] == "ready"
        assert time.monotonic() - started < 120  # it did not wait for the lock
        assert tree(data_dir) == before
        # The server still answers: nothing was taken from it.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
