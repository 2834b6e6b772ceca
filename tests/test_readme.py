"""The README's quickstart runs as printed (on a few documents, with the tiny cross-encoder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(
    tmp_path: Path,
    tiny_cross_encoder_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = re.search(r"## Quickstart.*?```python\n(.*?)```", README.read_text(), re.S)
    assert code, "README has no python quickstart"
    source = code.group(1)
    assert "/path/to/cross-encoder" in source and "load_pydoc_topics()" in source
    source = source.replace("/path/to/cross-encoder", str(tiny_cross_encoder_path))
    source = source.replace("load_pydoc_topics()", "load_pydoc_topics()[:6]")
    monkeypatch.chdir(tmp_path)
    exec(compile(source, "README.md", "exec"), {})  # noqa: S102 - our own README
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert all("pydoc:" in line and ("bm25" in line or "vector" in line) for line in lines)
    assert (tmp_path / "qdrant").is_dir() and (tmp_path / "cache").is_dir()
