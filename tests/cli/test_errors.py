"""Expected faults through the real ``ragdrop`` process: one line, non-zero, no traceback.

Each case runs ``python -m ragdrop.cli.main`` on a real folder: a damaged manifest (garbage,
truncated, a symlink), a missing data dir, a data dir others may write, a data dir another
process holds. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragdrop.core.locks import DataDirLock

pytestmark = pytest.mark.integration

MANIFEST = "manifest-ragdrop.json"


def ragdrop(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "ragdrop.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with two documents, ingested once by the real CLI."""
    root = tmp_path_factory.mktemp("indexed")
    docs = root / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text("Qdrant is a vector database written in Rust.")
    (docs / "bm25.txt").write_text("BM25 ranks documents by term frequency.")
    result = ragdrop("ingest", str(docs), "--data-dir", str(root / "data"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return root / "data"


@pytest.fixture()
def data_dir(indexed: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(indexed, copy, symlinks=True)
    return copy


def damage(data_dir: Path, how: str) -> None:
    manifest = data_dir / MANIFEST
    if how == "garbage":
        manifest.write_bytes(b"\x00\xffnot json")
    elif how == "truncated":
        manifest.write_bytes(manifest.read_bytes()[:40])
    else:  # a symlink to a valid manifest elsewhere: never followed
        outside = data_dir.parent / "elsewhere.json"
        manifest.replace(outside)
        manifest.symlink_to(outside)


@pytest.mark.parametrize("how", ["garbage", "truncated", "symlink"])
def test_ask_with_a_damaged_manifest_fails_in_one_line(data_dir: Path, how: str) -> None:
    damage(data_dir, how)
    line = assert_one_line(
        ragdrop("ask", "What is Qdrant?", "--data-dir", str(data_dir)), "ragdrop ask:", MANIFEST
    )
    assert "delete it to re-index" in line


def test_health_reports_a_damaged_manifest_as_not_ready(data_dir: Path) -> None:
    damage(data_dir, "garbage")
    result = ragdrop("health", "--data-dir", str(data_dir), "--no-rerank")
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL manifest") for line in lines), result.stdout
    assert lines[-1].startswith("not ready: manifest:") and "delete it" in lines[-1]


def test_health_and_ask_on_a_missing_data_dir_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    health = ragdrop("health", "--data-dir", str(missing))
    assert health.returncode == 1 and "Traceback" not in health.stderr + health.stdout
    last = health.stdout.splitlines()[-1]
    assert last.startswith("not ready: data_dir:") and "does not exist" in last
    assert "ragdrop ingest" in last
    assert_one_line(ragdrop("ask", "What?", "--data-dir", str(missing)), "ragdrop ingest")
    assert not (tmp_path / "does").exists()


def test_a_data_dir_others_may_write_is_refused_in_one_line(data_dir: Path) -> None:
    os.chmod(data_dir, 0o777)
    line = assert_one_line(ragdrop("ask", "What is Qdrant?", "--data-dir", str(data_dir)))
    assert line.startswith("ragdrop ask:") and f"chmod 700 {data_dir}" in line
    health = ragdrop("health", "--data-dir", str(data_dir))
    assert health.returncode == 1 and "Traceback" not in health.stderr + health.stdout
    assert health.stdout.splitlines()[-1].startswith("not ready: data_dir:")
    assert "chmod 700" in health.stdout
    assert data_dir.stat().st_mode & 0o777 == 0o777  # reported, not changed


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(data_dir: Path, where: str) -> None:
    damage(data_dir, "garbage")
    argv = ["ask", "What is Qdrant?", "--data-dir", str(data_dir)]
    result = ragdrop(*(["--debug", *argv] if where == "before" else [*argv, "--debug"]))
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ManifestError" in result.stderr


def test_a_data_dir_held_by_another_process_is_one_line(data_dir: Path) -> None:
    with DataDirLock(data_dir):
        result = ragdrop("ask", "What is Qdrant?", "--data-dir", str(data_dir))
    line = assert_one_line(result, "ragdrop ask:", f"process {os.getpid()}")
    assert result.returncode == 1, line
