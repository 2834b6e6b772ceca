"""Render an `EvalReport` as a markdown table, a JSON file and PNG charts."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragdrop.core.files import atomic_write_bytes, atomic_write_text
from ragdrop.evaluation.runner import EvalReport, SystemResult

REFERENCE_SYSTEM = "llamaindex_fusion"
# The per-query difference chart: our default hybrid minus the reference (issue 15).
DEFAULT_SYSTEM = "hybrid"
DIFFERENCE_CHART = "results_diff.png"
METRIC_COLUMNS = ("ndcg@10", "recall@100", "mrr@10")


def _fmt(value: float, digits: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _reference(report: EvalReport) -> SystemResult | None:
    for result in report.results:
        if result.name == REFERENCE_SYSTEM and not result.skipped:
            return result
    return None


def markdown_table(report: EvalReport) -> str:
    """One row per system: quality, latency, throughput and nDCG@10 vs QueryFusionRetriever."""
    recall_key = f"recall@{report.settings.get('top_k', 100)}"
    reference = _reference(report)
    header = (
        f"| System | nDCG@10 | Recall@{report.settings.get('top_k', 100)} | MRR@10 "
        "| p50 ms | p95 ms | QPS | ΔnDCG vs QueryFusion |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in report.results:
        if result.skipped:
            lines.append(f"| {result.label} | skipped: {result.skipped} | | | | | | |")
            continue
        m, lat = result.metrics, result.latency
        delta = (
            f"{m['ndcg@10'] - reference.metrics['ndcg@10']:+.4f}" if reference is not None else ""
        )
        lines.append(
            f"| {result.label} | {_fmt(m['ndcg@10'], 4)} | {_fmt(m[recall_key], 4)} "
            f"| {_fmt(m['mrr@10'], 4)} | {_fmt(lat['p50_ms'], 1)} | {_fmt(lat['p95_ms'], 1)} "
            f"| {_fmt(lat['qps'], 1)} | {delta} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class QueryDifferences:
    """Per-query nDCG@10 of one system minus another's, sorted ascending, with the counts.

    Args:
        differences: ``(query id, ours - baseline)``, ascending (ties by query id).
        wins: queries where ours is higher by more than ``tolerance``.
        losses: queries where ours is lower by more than ``tolerance``.
        ties: the rest.
        tolerance: the largest difference counted as a tie.
    """

    differences: tuple[tuple[str, float], ...]
    wins: int
    losses: int
    ties: int
    tolerance: float = 1e-9

    def outcome(self, difference: float) -> str:
        """``"win"``, ``"loss"`` or ``"tie"`` for one difference."""
        if difference > self.tolerance:
            return "win"
        return "loss" if difference < -self.tolerance else "tie"


def per_query_differences(
    ours: Mapping[str, float], baseline: Mapping[str, float], tolerance: float = 1e-9
) -> QueryDifferences:
    """``ours - baseline`` per query scored by both, sorted, with wins, losses and ties.

    Example:
        >>> d = per_query_differences({"a": 0.5, "b": 0.25, "c": 1.0}, {"a": 0.25, "b": 0.5, "c": 1.0})
        >>> d.differences, (d.wins, d.losses, d.ties)
        ((('b', -0.25), ('c', 0.0), ('a', 0.25)), (1, 1, 1))
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    pairs = sorted(
        ((qid, ours[qid] - baseline[qid]) for qid in ours if qid in baseline),
        key=lambda pair: (pair[1], pair[0]),
    )
    wins = sum(1 for _, d in pairs if d > tolerance)
    losses = sum(1 for _, d in pairs if d < -tolerance)
    return QueryDifferences(tuple(pairs), wins, losses, len(pairs) - wins - losses, tolerance)


def _difference_pair(report: EvalReport) -> tuple[SystemResult, SystemResult] | None:
    """Our default hybrid and the reference, when both ran and share scored queries."""
    done = {r.name: r for r in report.results if not r.skipped}
    ours, reference = done.get(DEFAULT_SYSTEM), done.get(REFERENCE_SYSTEM)
    if ours is None or reference is None:
        return None
    if not set(ours.per_query_ndcg) & set(reference.per_query_ndcg):
        return None
    return ours, reference


def report_differences(report: EvalReport) -> QueryDifferences | None:
    """`per_query_differences` of ``hybrid`` minus ``llamaindex_fusion``; None when either is
    missing or skipped."""
    pair = _difference_pair(report)
    if pair is None:
        return None
    ours, reference = pair
    return per_query_differences(ours.per_query_ndcg, reference.per_query_ndcg)


def _differences_line(report: EvalReport) -> str | None:
    pair, diffs = _difference_pair(report), report_differences(report)
    if pair is None or diffs is None:
        return None
    return (
        f"Per query, {pair[0].label} minus {pair[1].label} in nDCG@10: {diffs.wins} wins, "
        f"{diffs.losses} losses, {diffs.ties} ties (sorted in `{DIFFERENCE_CHART}`)."
    )


def markdown_report(report: EvalReport, command: str | None = None) -> str:
    """A titled section: dataset sizes, the table, and how latency was measured."""
    q = report.embedding.get("query_latency", {})
    parts = [
        f"### {report.dataset}",
        "",
        f"{report.num_documents} documents ({report.num_units} indexed units), "
        f"{report.num_queries} judged queries, top_k={report.settings.get('top_k')}, "
        f"chunking={'on' if report.settings.get('chunking') else 'off'}.",
        "",
        markdown_table(report),
        "",
        "Latency is per query, sequential, with the query embedding precomputed and shared "
        f"(MiniLM query embedding: p50 {_fmt(q.get('p50_ms', float('nan')), 1)} ms, "
        "add it to the dense and hybrid rows for end-to-end time).",
    ]
    differences = _differences_line(report)
    if differences:
        parts += ["", differences]
    if command:
        parts += ["", "```", command, "```"]
    return "\n".join(parts) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(report: EvalReport, path: str | Path, command: str | None = None) -> Path:
    """The full report (settings, metrics, latencies, per-query nDCG) as JSON."""
    target = Path(path)
    data = report.to_dict() | {"command": command}
    atomic_write_text(target, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")
    return target


def write_chart(report: EvalReport, path: str | Path) -> Path:
    """Grouped bars of nDCG@10 / Recall@k / MRR@10 per system, and p50 latency (log scale)."""
    # The object API with an Agg canvas: no pyplot global state, no display needed. Imported
    # here: matplotlib costs ~1 s to import and only this function draws.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    done = [r for r in report.results if not r.skipped]
    recall_key = f"recall@{report.settings.get('top_k', 100)}"
    keys = ("ndcg@10", recall_key, "mrr@10")
    figure = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    quality, speed = figure.subplots(1, 2, width_ratios=[3, 2])
    width = 0.8 / len(keys)
    positions = list(range(len(done)))
    for offset, key in enumerate(keys):
        values = [r.metrics.get(key, float("nan")) for r in done]
        bars = quality.bar([p + offset * width for p in positions], values, width, label=key)
        if key == "ndcg@10":
            quality.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    quality.set_xticks([p + width for p in positions])
    quality.set_xticklabels([r.label for r in done], rotation=30, ha="right", fontsize=8)
    quality.set_ylim(0, 1.15)  # headroom for the legend above the bars
    quality.set_title(f"{report.dataset}: quality ({report.num_queries} queries)")
    quality.legend(fontsize=8, loc="upper left", ncol=len(keys))
    latencies = [max(r.latency.get("p50_ms", float("nan")), 1e-3) for r in done]
    speed.barh([r.label for r in done], latencies, color="tab:gray")
    speed.set_xscale("log")
    speed.invert_yaxis()
    speed.tick_params(axis="y", labelsize=8)
    speed.set_xlabel("p50 latency per query, ms (log)")
    speed.set_title("speed")
    target = Path(path)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    atomic_write_bytes(target, png.getvalue())
    return target


def write_difference_chart(report: EvalReport, path: str | Path) -> Path | None:
    """Bars of per-query nDCG@10, ``hybrid`` minus ``llamaindex_fusion``, sorted ascending.

    The title counts wins, losses and ties. Nothing is written (None) when either system is
    missing or skipped.
    """
    pair, diffs = _difference_pair(report), report_differences(report)
    if pair is None or diffs is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colors = {"win": "tab:green", "loss": "tab:red", "tie": "tab:gray"}
    values = [d for _, d in diffs.differences]
    figure = Figure(figsize=(9, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.bar(
        range(len(values)), values, width=1.0, color=[colors[diffs.outcome(d)] for d in values]
    )
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xlim(-0.5, len(values) - 0.5)
    axes.set_xlabel(f"{len(values)} queries, sorted by difference")
    axes.set_ylabel("nDCG@10 difference")
    axes.set_title(
        f"{report.dataset}: {pair[0].label}\nminus {pair[1].label}: "
        f"{diffs.wins} wins, {diffs.losses} losses, {diffs.ties} ties",
        fontsize=10,
    )
    target = Path(path)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=120)
    atomic_write_bytes(target, png.getvalue())
    return target


def write_outputs(
    report: EvalReport, directory: str | Path, command: str | None = None
) -> dict[str, Path]:
    """Write ``results.md``, ``results.json``, ``results.png`` and, when both ``hybrid`` and
    ``llamaindex_fusion`` ran, ``results_diff.png`` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "results.md"
    atomic_write_text(md, markdown_report(report, command))
    paths = {
        "markdown": md,
        "json": write_json(report, out / "results.json", command),
        "chart": write_chart(report, out / "results.png"),
    }
    difference = write_difference_chart(report, out / DIFFERENCE_CHART)
    if difference is None:
        # A chart left by an earlier run would describe other results.
        (out / DIFFERENCE_CHART).unlink(missing_ok=True)
    else:
        paths["difference_chart"] = difference
    return paths
