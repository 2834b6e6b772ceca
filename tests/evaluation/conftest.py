"""Fixtures of the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_data import write_beir


@pytest.fixture()
def tiny_beir_dir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")
