"""`make bench`'s runner: it finds every benchmark and renders one table (nothing is run)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def _import(name: str) -> ModuleType:
    # benchmarks/ is a package at the repository root, not an installed one.
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH_DIR.parent))
        return importlib.import_module(name)


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    return _import("benchmarks.run_all")


@pytest.fixture(scope="module")
def summary() -> ModuleType:
    return _import("benchmarks._summary")


def test_discovery_lists_every_benchmark_module(run_all: ModuleType) -> None:
    on_disk = sorted(
        p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all"
    )
    assert run_all.discover() == on_disk
    assert {"chunking", "retrieval_quality", "server_load", "vector_store_edge"} <= set(on_disk)


def test_discovery_skips_helpers_and_the_runner(run_all: ModuleType, tmp_path: Path) -> None:
    for name in ("__init__", "_beir", "run_all", "zeta", "alpha"):
        (tmp_path / f"{name}.py").write_text("")
    assert run_all.discover(tmp_path) == ["alpha", "zeta"]


def test_table_renders_ok_skipped_and_failed_rows(run_all: ModuleType, summary: ModuleType) -> None:
    Row, skipped = summary.Row, summary.skipped

    outcomes = [
        run_all.Outcome(
            "retrieval_quality",
            "ok",
            12.0,
            (
                Row("ours vs QFR", "nDCG@10 scifact", 0.75, 0.5, "higher"),
                skipped("ours vs QFR", "evaluation data missing: /x/cisi", "nDCG@10 cisi"),
            ),
        ),
        run_all.Outcome("vector_store_edge", "failed", 3.0, reason="exit 1: ImportError: boom"),
        run_all.Outcome("chunking", "ok", 5.0, (Row("ours vs li", "parse time (s)", 2.0, 4.0),)),
    ]
    lines = run_all.render(outcomes).splitlines()
    header = lines[0].split()
    assert header[:2] == ["benchmark", "compared"]
    assert header[-3:] == ["ours/base", "better", "status"]
    ok, skip, failed, chunking = lines[2:6]
    assert ok.split()[0] == "retrieval_quality"
    assert ok.split()[-5:] == ["0.75", "0.5", "1.50x", "higher", "ok"]
    assert skip.split()[0] == "nDCG@10"  # same benchmark and comparison: not repeated
    assert skip.endswith("skipped: evaluation data missing: /x/cisi")
    assert skip.split()[2:6] == ["-"] * 4  # ours, baseline, ratio, better
    assert failed.startswith("vector_store_edge")
    assert failed.endswith("failed: exit 1: ImportError: boom")
    assert failed.split()[1:7] == ["-"] * 6
    assert chunking.split()[-5:] == ["2.00", "4.00", "0.50x", "lower", "ok"]
    # The status column starts at the same place on every row.
    assert len({line.index(word) for line, word in ((ok, "ok"), (failed, "failed"))}) == 1
    assert "ours / baseline" in lines[-1]


def test_summary_round_trip(summary: ModuleType, tmp_path: Path) -> None:
    rows = [summary.Row("a vs b", "p50 (ms)", 1.0, 0.0), summary.skipped("a vs b", "no data")]
    summary.write_summary(tmp_path / "s.json", rows)
    assert summary.read_summary(tmp_path / "s.json") == rows
    assert rows[0].ratio is None and rows[1].ratio is None
