"""Leave-one-dataset-out over per-query scores, and its markdown and JSON (pure, no models).

`benchmarks.select_default` measures; this module chooses and renders. A configuration's gain
on a dataset is its mean nDCG@10 minus the baseline's there; every dataset weighs the same.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._summary import Row

TOP_K = 100  # as `ragdrop eval`
NDCG_K = 10
DEFAULT_NAME = "default"  # the configuration that sets nothing: HybridRetriever as shipped
PREVIOUS_NAME = "rrf_k10"  # the default before issue 15, the latency reference

__all__ = [
    "DEFAULT_NAME",
    "NDCG_K",
    "PREVIOUS_NAME",
    "TOP_K",
    "DatasetScores",
    "Deltas",
    "Fold",
    "Scores",
    "Selection",
    "CRITERIA",
    "choose_config",
    "leave_one_dataset_out",
    "render_markdown",
    "run_selection",
    "select_default",
    "selection_json",
    "summary_rows",
]


@dataclass
class Scores:
    """Per-query nDCG@10 of one system on one dataset and its query latency (mean, p50)."""

    per_query: dict[str, float]
    latency_ms: float
    latency_p50_ms: float = float("nan")

    @property
    def ndcg(self) -> float:
        return statistics.fmean(self.per_query.values())


@dataclass
class DatasetScores:
    """The baseline's and every configuration's scores on one dataset."""

    name: str
    num_documents: int
    baseline: Scores
    configs: dict[str, Scores]

    def delta(self, config: str) -> float:
        return self.configs[config].ndcg - self.baseline.ndcg


# --- leave one dataset out ----------------------------------------------------------------------

Deltas = Mapping[str, Mapping[str, float]]  # config -> dataset -> nDCG@10 minus the baseline's


def _mean_over(deltas: Deltas, config: str, datasets: Sequence[str]) -> float:
    return statistics.fmean(deltas[config][d] for d in datasets)


# How a fold ranks the configurations on its training sets:
# "worst": the highest worst-set gain (ties: the highest mean) -- the goal is to never lose
# to the baseline on a collection, so the selection optimises exactly that;
# "mean": the highest mean gain.
CRITERIA = ("worst", "mean")


def _merit(
    deltas: Deltas, config: str, datasets: Sequence[str], criterion: str
) -> tuple[float, ...]:
    mean = _mean_over(deltas, config, datasets)
    if criterion == "mean":
        return (mean,)
    return (min(deltas[config][d] for d in datasets), mean)


def choose_config(
    deltas: Deltas, datasets: Sequence[str], criterion: str = "mean"
) -> tuple[str, float]:
    """The best configuration over ``datasets`` by ``criterion`` (the first on ties), and
    its mean gain there.

    Example:
        >>> table = {"a": {"x": 0.2, "y": -0.01}, "b": {"x": 0.02, "y": 0.01}}
        >>> choose_config(table, ["x", "y"])
        ('a', 0.095)
        >>> choose_config(table, ["x", "y"], criterion="worst")
        ('b', 0.015)
    """
    if not datasets:
        raise ValueError("datasets must name at least one dataset")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {list(CRITERIA)}, got {criterion!r}")
    best = max(deltas, key=lambda config: _merit(deltas, config, datasets, criterion))
    return best, _mean_over(deltas, best, datasets)


def leave_one_dataset_out(
    deltas: Deltas, datasets: Sequence[str], criterion: str = "mean"
) -> list[tuple[str, str, float]]:
    """``(held-out dataset, chosen configuration, its mean gain on the others)`` per fold."""
    if len(datasets) < 2:
        raise ValueError(f"leave-one-dataset-out needs at least 2 datasets, got {list(datasets)}")
    folds = []
    for held_out in datasets:
        others = [d for d in datasets if d != held_out]
        chosen, gain = choose_config(deltas, others, criterion)
        folds.append((held_out, chosen, gain))
    return folds


def select_default(chosen: Sequence[str], deltas: Deltas, datasets: Sequence[str]) -> str:
    """The configuration chosen in most folds; ties: the best mean gain over ``datasets``."""
    counts = Counter(chosen)
    return max(deltas, key=lambda c: (counts[c], _mean_over(deltas, c, datasets)))


@dataclass(frozen=True)
class Fold:
    """One held-out dataset: the configuration chosen on the others and how it did."""

    held_out: str
    chosen: str
    train_gain: float
    ndcg: float
    baseline: float

    @property
    def delta(self) -> float:
        return self.ndcg - self.baseline


@dataclass
class Selection:
    """Every dataset's scores, the folds and the selected default."""

    datasets: list[DatasetScores]
    configs: list[str]
    folds: list[Fold]
    selected: str
    criterion: str = "mean"

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.datasets]

    @property
    def deltas(self) -> dict[str, dict[str, float]]:
        return {c: {d.name: d.delta(c) for d in self.datasets} for c in self.configs}

    @property
    def mean_heldout_gain(self) -> float:
        return statistics.fmean(f.delta for f in self.folds)

    @property
    def default_is_selected(self) -> bool | None:
        return None if DEFAULT_NAME not in self.configs else self.selected == DEFAULT_NAME


def run_selection(results: Sequence[DatasetScores], criterion: str = "mean") -> Selection:
    """Leave-one-dataset-out over ``results`` (one per dataset, the same configurations)."""
    names = [r.name for r in results]
    if len(set(names)) != len(names):
        raise ValueError(f"dataset names must differ (they name the folds), got {names}")
    configs = list(results[0].configs) if results else []
    if any(list(r.configs) != configs for r in results):
        raise ValueError("every dataset must be scored on the same configurations")
    by_name = {r.name: r for r in results}
    deltas = {c: {r.name: r.delta(c) for r in results} for c in configs}
    folds = [
        Fold(
            held_out,
            chosen,
            gain,
            by_name[held_out].configs[chosen].ndcg,
            by_name[held_out].baseline.ndcg,
        )
        for held_out, chosen, gain in leave_one_dataset_out(deltas, names, criterion)
    ]
    selected = select_default([f.chosen for f in folds], deltas, names)
    return Selection(list(results), configs, folds, selected, criterion)


# --- output -------------------------------------------------------------------------------------


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "n/a"


def render_markdown(selection: Selection, command: str | None = None) -> str:
    """The fold table, the selected default, every configuration's gains and the latency."""
    s, names = selection, selection.names
    deltas = s.deltas
    chosen = Counter(f.chosen for f in s.folds)
    lines = [
        "## Leave-one-dataset-out selection of the default hybrid",
        "",
        "| held out | chosen on the others | its mean Δ there | nDCG@10 chosen "
        "| nDCG@10 QueryFusion | Δ |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {f.held_out} | {f.chosen} | {f.train_gain:+.4f} | {f.ndcg:.4f} | {f.baseline:.4f} "
        f"| {f.delta:+.4f} |"
        for f in s.folds
    ]
    verdict = {
        None: f"there is no `{DEFAULT_NAME}` configuration to compare",
        True: f"`{DEFAULT_NAME}` (HybridRetriever out of the box) **is** the selected one",
        False: f"`{DEFAULT_NAME}` (HybridRetriever out of the box) is **not** the selected one",
    }[s.default_is_selected]
    rule = {
        "worst": "the highest worst-set gain over the other sets (ties: the highest mean)",
        "mean": "the highest mean gain over the other sets",
    }[s.criterion]
    lines += [
        "",
        f"Each fold picks the configuration with {rule}.",
        "",
        f"Selected default: **{s.selected}** (chosen in {chosen[s.selected]} of {len(s.folds)} "
        f"folds; mean Δ over all sets {_mean_over(deltas, s.selected, names):+.4f}). Mean "
        f"held-out gain: **{s.mean_heldout_gain:+.4f}** (worst fold "
        f"{min(f.delta for f in s.folds):+.4f}); {verdict}.",
        "",
        "### Every configuration: nDCG@10 minus QueryFusion's, per set",
        "",
        f"| configuration | {' | '.join(names)} | mean | min | ms/query |",
        "|---|" + "---:|" * (len(names) + 3),
        "| *QueryFusion nDCG@10* | "
        + " | ".join(f"{d.baseline.ndcg:.4f}" for d in s.datasets)
        + f" | | | {statistics.fmean(d.baseline.latency_ms for d in s.datasets):.1f} |",
    ]
    for config in s.configs:
        row = [deltas[config][n] for n in names]
        ms = statistics.fmean(d.configs[config].latency_ms for d in s.datasets)
        lines.append(
            f"| {config} | {' | '.join(f'{v:+.4f}' for v in row)} "
            f"| {statistics.fmean(row):+.4f} | {min(row):+.4f} | {ms:.1f} |"
        )
    lines += ["", "ms/query: mean over the sets of each set's mean query latency."]
    if DEFAULT_NAME in s.configs and PREVIOUS_NAME in s.configs:
        lines += [
            "",
            f"### Latency: `{DEFAULT_NAME}` vs `{PREVIOUS_NAME}` (ms per query)",
            "",
            f"| set | {DEFAULT_NAME} mean | {PREVIOUS_NAME} mean | ratio | {DEFAULT_NAME} p50 "
            f"| {PREVIOUS_NAME} p50 | ratio | QueryFusion p50 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for d in s.datasets:
            ours, before = d.configs[DEFAULT_NAME], d.configs[PREVIOUS_NAME]
            lines.append(
                f"| {d.name} | {ours.latency_ms:.1f} | {before.latency_ms:.1f} "
                f"| {_ratio(ours.latency_ms, before.latency_ms)} | {ours.latency_p50_ms:.1f} "
                f"| {before.latency_p50_ms:.1f} "
                f"| {_ratio(ours.latency_p50_ms, before.latency_p50_ms)} "
                f"| {d.baseline.latency_p50_ms:.1f} |"
            )
    queries = ", ".join(f"{d.name} {len(d.baseline.per_query)}" for d in s.datasets)
    lines += [
        "",
        f"Queries per set: {queries}. top_k={TOP_K}; all rows rank the same nodes with the same "
        "all-MiniLM-L6-v2 embeddings (query embedding precomputed, not in the latency).",
    ]
    if command:
        lines += ["", "```", command, "```"]
    return "\n".join(lines) + "\n"


def selection_json(selection: Selection, command: str | None = None) -> dict[str, Any]:
    """Everything measured: per-dataset baseline and configuration means and per-query values."""

    def scores(value: Scores) -> dict[str, Any]:
        return {
            "ndcg@10": value.ndcg,
            "latency_ms": value.latency_ms,
            "latency_p50_ms": value.latency_p50_ms,
            "per_query_ndcg@10": {q: round(v, 6) for q, v in value.per_query.items()},
        }

    return {
        "command": command,
        "top_k": TOP_K,
        "selected": selection.selected,
        "mean_heldout_gain": selection.mean_heldout_gain,
        "default_is_selected": selection.default_is_selected,
        "folds": [
            {
                "held_out": f.held_out,
                "chosen": f.chosen,
                "train_gain": f.train_gain,
                "ndcg@10": f.ndcg,
                "baseline_ndcg@10": f.baseline,
                "delta": f.delta,
            }
            for f in selection.folds
        ],
        "datasets": {
            d.name: {
                "num_documents": d.num_documents,
                "num_queries": len(d.baseline.per_query),
                "baseline": scores(d.baseline),
                "configs": {
                    name: scores(value) | {"delta": d.delta(name)}
                    for name, value in d.configs.items()
                },
            }
            for d in selection.datasets
        },
    }


def summary_rows(selection: Selection) -> list[Row]:
    rows = [
        Row(
            "LODO pick vs QueryFusion",
            f"held-out nDCG@10 {f.held_out} ({f.chosen})",
            f.ndcg,
            f.baseline,
            "higher",
        )
        for f in selection.folds
    ]
    if {DEFAULT_NAME, PREVIOUS_NAME} <= set(selection.configs):
        ms = {
            c: statistics.fmean(d.configs[c].latency_ms for d in selection.datasets)
            for c in (DEFAULT_NAME, PREVIOUS_NAME)
        }
        rows.append(
            Row(
                f"{DEFAULT_NAME} vs {PREVIOUS_NAME}",
                "query ms",
                ms[DEFAULT_NAME],
                ms[PREVIOUS_NAME],
            )
        )
    return rows
