"""ingest / ask / health / backup / restore / serve through ``ragdrop.cli.main.main``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragdrop.cli.main import main

pytestmark = pytest.mark.integration

FILES = {
    "qdrant.md": "Qdrant is a vector database written in Rust. It stores points with payloads.",
    "bm25.txt": "BM25 ranks documents by term frequency and inverse document frequency.",
    "notes/bread.md": "Knead the dough for ten minutes, let it rise, then bake it hot.",
}


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture()
def data_flags(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data"), "--collection", "cli"]


def ingest_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, int]:
    assert main(["ingest", *argv, "--no-progress", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))


def test_ingest_skips_unchanged_files_and_updates_changed_ones(
    docs: Path, data_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = ingest_json(capsys, str(docs), *data_flags)
    assert (first["added"], first["unchanged"]) == (3, 0)
    second = ingest_json(capsys, str(docs), *data_flags)
    assert (second["added"], second["updated"], second["unchanged"]) == (0, 0, 3)
    assert second["nodes_written"] == 0
    (docs / "bm25.txt").write_text("BM25 has two parameters, k1 and b.")
    third = ingest_json(capsys, str(docs), *data_flags)
    assert (third["updated"], third["unchanged"]) == (1, 2)


def test_ingest_then_ask(
    docs: Path, data_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_json(capsys, str(docs), *data_flags)
    assert main(["ask", "Which database is written in Rust?", *data_flags, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["sources"][0]["ref_doc_id"] == "qdrant.md"
    assert main(["ask", "How long to knead?", *data_flags, "--filter", "file_name=bread.md"]) == 0
    out = capsys.readouterr().out
    assert "notes/bread.md" in out and "Time:" in out


def test_ask_before_ingest_says_what_to_do(
    data_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "anything?", *data_flags]) == 1
    assert "ragdrop ingest" in capsys.readouterr().err


def test_bad_filter_and_bad_path_exit_2(
    data_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "q", *data_flags, "--filter", "no-equals-sign"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "missing"), *data_flags]) == 2
    assert "no such file" in capsys.readouterr().err


def test_ingest_refuses_colliding_ids_from_two_paths(
    tmp_path: Path, data_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "README.md").write_text(f"readme of {folder}")
    assert main(["ingest", str(tmp_path / "a"), str(tmp_path / "b"), *data_flags]) == 2
    assert "README.md" in capsys.readouterr().err


def test_settings_from_environment_and_toml_reach_the_pipeline(
    docs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    toml = tmp_path / "ragdrop.toml"
    toml.write_text(f'data_dir = "{tmp_path / "toml-data"}"\ncollection = "from_toml"\n')
    monkeypatch.setenv("RAGDROP_COLLECTION", "from_env")
    assert main(["ingest", str(docs), "--config", str(toml), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "'from_env'" in out and "toml-data" in out


def test_health(docs: Path, data_flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    ingest_json(capsys, str(docs), *data_flags)
    assert main(["health", *data_flags, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok"
    assert {"qdrant", "models", "collection"} <= set(report["checks"])
    assert main(["health", *data_flags]) == 0
    assert "ready" in capsys.readouterr().out


def test_backup_then_restore_brings_back_points_and_manifest(
    docs: Path, data_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_json(capsys, str(docs), *data_flags)
    backup = tmp_path / "backup"
    assert main(["backup", str(backup), *data_flags]) == 0
    assert "3 points" in capsys.readouterr().out
    assert (backup / "ragdrop-manifest.json").exists()

    qdrant_text = (docs / "qdrant.md").read_text()
    (docs / "qdrant.md").unlink()
    pruned = ingest_json(capsys, str(docs), *data_flags, "--prune")
    assert pruned["deleted"] == 1

    assert main(["restore", str(backup), *data_flags]) == 0
    capsys.readouterr()
    assert main(["ask", "Which database is written in Rust?", *data_flags, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["sources"][0]["ref_doc_id"] == "qdrant.md"

    # The restored manifest matches the restored points: nothing to re-embed.
    (docs / "qdrant.md").write_text(qdrant_text)
    again = ingest_json(capsys, str(docs), *data_flags)
    assert (again["unchanged"], again["added"], again["nodes_written"]) == (3, 0, 0)


def test_backup_of_an_empty_index_fails_clearly(
    data_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", str(tmp_path / "b"), *data_flags]) == 2
    assert "nothing to back up" in capsys.readouterr().err


def test_restore_from_a_missing_backup(
    data_flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restore", str(tmp_path / "nothing"), *data_flags]) == 2
    assert "no such backup folder" in capsys.readouterr().err


def test_serve_refuses_several_workers_on_local_qdrant(
    data_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "2", *data_flags]) == 2
    err = capsys.readouterr().err
    assert "one process" in err and "--qdrant-url" in err


@pytest.mark.slow
def test_interrupted_ingest_resumes_where_it_stopped(tmp_path: Path) -> None:
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(12):
        (docs / f"doc{i:02d}.md").write_text(
            " ".join(f"Paragraph {i}.{j} about topic {i * j % 17}." for j in range(20))
        )
    data = tmp_path / "data"
    argv = [sys.executable, "-m", "ragdrop.cli.main", "ingest", str(docs), "--no-progress"]
    flags = ["--data-dir", str(data), "--ingest-batch-size", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv + flags, env=env, stderr=subprocess.PIPE, text=True)
    from ragdrop.pipeline import PipelineConfig

    manifest = PipelineConfig(data_dir=data).manifest_path
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (
            manifest.exists()
            and len(json.loads(manifest.read_text() or "{}").get("documents", {})) >= 2
        ):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "run the same command again" in err

    done = subprocess.run(argv + flags + ["--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["unchanged"] >= 2
    assert report["unchanged"] + report["added"] + report["updated"] == 12
    assert report["added"] + report["updated"] < 12
