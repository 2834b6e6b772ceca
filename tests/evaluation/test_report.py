"""The per-query difference chart of ``ragdrop eval``: our default hybrid minus QueryFusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdrop.evaluation import EvalReport, SystemResult, markdown_report, write_outputs
from ragdrop.evaluation.report import (
    DIFFERENCE_CHART,
    per_query_differences,
    report_differences,
    write_difference_chart,
)

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n"
BASELINE = {"q1": 0.5, "q2": 0.7, "q3": 0.2, "q4": 1.0, "q5": 0.0}
HYBRID = {"q1": 0.6, "q2": 0.7, "q3": 0.1, "q4": 1.0, "q5": 0.25}


def _result(name: str, per_query: dict[str, float], skipped: str | None = None) -> SystemResult:
    mean = sum(per_query.values()) / max(len(per_query), 1)
    return SystemResult(
        name=name,
        label=name,
        metrics={"ndcg@10": mean, "recall@100": 1.0, "mrr@10": mean},
        latency={"p50_ms": 2.0, "p95_ms": 3.0, "qps": 400.0},
        per_query_ndcg=per_query,
        skipped=skipped,
    )


def _report(*results: SystemResult) -> EvalReport:
    return EvalReport(
        dataset="synthetic",
        num_documents=10,
        num_units=10,
        num_queries=5,
        settings={"top_k": 100, "chunking": False},
        embedding={"query_latency": {"p50_ms": 5.0}},
        results=list(results),
    )


def test_differences_are_sorted_and_counted() -> None:
    diffs = per_query_differences(HYBRID, BASELINE)
    assert [qid for qid, _ in diffs.differences] == ["q3", "q2", "q4", "q1", "q5"]
    assert [d for _, d in diffs.differences] == pytest.approx([-0.1, 0.0, 0.0, 0.1, 0.25])
    assert (diffs.wins, diffs.losses, diffs.ties) == (2, 1, 2)
    assert [diffs.outcome(d) for _, d in diffs.differences] == ["loss", "tie", "tie", "win", "win"]
    # a query only one side scored is left out
    assert len(per_query_differences({**HYBRID, "extra": 1.0}, BASELINE).differences) == 5
    assert per_query_differences(HYBRID, BASELINE, tolerance=0.15).ties == 4
    with pytest.raises(ValueError, match="tolerance"):
        per_query_differences(HYBRID, BASELINE, tolerance=-1.0)


def test_chart_file_and_counts_in_results_md(tmp_path: Path) -> None:
    report = _report(_result("llamaindex_fusion", BASELINE), _result("hybrid", HYBRID))
    diffs = report_differences(report)
    assert diffs is not None and (diffs.wins, diffs.losses, diffs.ties) == (2, 1, 2)

    paths = write_outputs(report, tmp_path / "out")
    chart = tmp_path / "out" / DIFFERENCE_CHART
    assert paths["difference_chart"] == chart
    assert chart.read_bytes()[:8] == PNG
    text = (tmp_path / "out" / "results.md").read_text()
    assert "hybrid minus llamaindex_fusion in nDCG@10: 2 wins, 1 losses, 2 ties" in text
    assert DIFFERENCE_CHART in text


@pytest.mark.parametrize(
    "results",
    [
        pytest.param([_result("llamaindex_fusion", BASELINE)], id="hybrid-missing"),
        pytest.param([_result("hybrid", HYBRID)], id="baseline-missing"),
        pytest.param(
            [_result("llamaindex_fusion", BASELINE), _result("hybrid", {}, skipped="no model")],
            id="hybrid-skipped",
        ),
    ],
)
def test_no_chart_without_both_systems(tmp_path: Path, results: list[SystemResult]) -> None:
    report = _report(*results)
    assert report_differences(report) is None
    assert write_difference_chart(report, tmp_path / "diff.png") is None
    assert not (tmp_path / "diff.png").exists()
    out = tmp_path / "out"
    out.mkdir()
    (out / DIFFERENCE_CHART).write_bytes(b"stale")  # from an earlier run: must not survive
    paths = write_outputs(report, out)
    assert "difference_chart" not in paths and not (out / DIFFERENCE_CHART).exists()
    assert (out / "results.png").read_bytes()[:8] == PNG
    assert "wins" not in markdown_report(report)
