"""``ragdrop demo`` as a user runs it: a real process, a real on-disk index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ragdrop.cli.main", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def docs(workdir: Path) -> Path:
    folder = workdir / "docs"
    folder.mkdir()
    (folder / "qdrant.md").write_text(
        "Qdrant stores vectors with payloads. Collections can be replicated across nodes "
        "for availability. Snapshots back a collection up.",
        encoding="utf-8",
    )
    (folder / "bread.txt").write_text(
        "Bread needs flour, water, salt and yeast. The dough rises for an hour before baking.",
        encoding="utf-8",
    )
    return folder


def test_demo_on_own_docs_answers_then_reuses_the_index(workdir: Path, docs: Path):
    first = _demo("--docs", str(docs), "--question", "How long does dough rise?", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert "Indexed 2 new" in first.stdout
    assert "Answer:" in first.stdout and "bread.txt" in first.stdout
    second = _demo("--docs", str(docs), "--question", "How are vectors stored?", cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert "Index up to date: 2 documents unchanged" in second.stdout
    assert "qdrant.md" in second.stdout


@pytest.mark.parametrize("kind", ["missing", "empty", "binary"])
def test_bad_docs_fail_in_one_line_and_keep_the_index(
    workdir: Path, docs: Path, tmp_path: Path, kind: str
):
    index = workdir / ".ragdrop"
    if not index.exists():
        assert _demo("--docs", str(docs), "--question", "q?", cwd=workdir).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in index.rglob("*")}
    bad = tmp_path / "bad"
    if kind == "empty":
        bad.mkdir()
    elif kind == "binary":
        bad.mkdir()
        (bad / "x.txt").write_bytes(b"\x00\xff")
    result = _demo("--docs", str(bad), cwd=workdir)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ragdrop demo: ")
    assert {p: p.stat().st_mtime_ns for p in index.rglob("*")} == before
