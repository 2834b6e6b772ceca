"""``ragdrop eval``: arguments, files written, errors as exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdrop.cli.main import main

pytestmark = pytest.mark.integration


def test_eval_writes_table_json_and_chart(
    tiny_beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    before = torch.get_num_threads()
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            str(tiny_beir_dir),
            "--queries",
            "2",
            "--systems",
            "llamaindex_bm25,bm25",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--output-dir",
            str(out),
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "| LlamaIndex BM25Retriever |" in printed.out
    assert "2 judged queries" in printed.out
    data = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in data["results"]] == ["llamaindex_bm25", "bm25"]
    assert data["num_queries"] == 2
    assert (out / "results.png").stat().st_size > 0
    assert any((tmp_path / "cache").glob("*.npy"))
    assert torch.get_num_threads() == before  # --threads is undone after the run


@pytest.mark.unit
def test_list_systems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--list-systems"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"dense", "hybrid", "hybrid_qdrant", "llamaindex_fusion"} <= set(names)


@pytest.mark.unit
def test_unknown_system_and_missing_dataset_exit_2(
    tiny_beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", str(tiny_beir_dir), "--systems", "dense,nope"]) == 2
    assert "unknown name(s) nope" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "is not a BEIR dataset" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert "DIR is required" in capsys.readouterr().err
    assert main(["eval", str(tiny_beir_dir), "--threads", "0"]) == 2
    assert "--threads must be a positive int" in capsys.readouterr().err
    assert main(["eval", str(tiny_beir_dir), "--queries", "0"]) == 2
    assert "n must be a positive int" in capsys.readouterr().err
