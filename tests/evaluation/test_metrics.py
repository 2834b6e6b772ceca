"""Ranking metrics against hand-computed values and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.evaluation.metrics import (
    dcg,
    evaluate_rankings,
    latency_summary,
    mean,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
)

pytestmark = pytest.mark.unit

doc_ids = st.sampled_from([f"d{i}" for i in range(12)])
grades_st = st.dictionaries(doc_ids, st.integers(min_value=0, max_value=3), max_size=8)
rankings_st = st.lists(doc_ids, max_size=15)


def test_dcg_uses_linear_gain_and_log2_discount() -> None:
    # 3/log2(2) + 2/log2(3) + 1/log2(4)
    assert dcg([3, 2, 1]) == pytest.approx(3 + 1.2618595071429148 + 0.5)


def test_ndcg_graded_hand_computed() -> None:
    # DCG = 0 + 2/log2(3) + 1/log2(4) = 1.7618595; IDCG = 3 + 2/log2(3) + 1/2 = 4.7618595
    grades = {"d2": 2, "d3": 1, "d4": 3}
    assert ndcg_at_k(["d1", "d2", "d3"], grades, k=10) == pytest.approx(0.36999401273810767)


def test_ndcg_binary_hand_computed() -> None:
    # hits at ranks 2 and 4 of 3 relevant: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3) + 1/2)
    grades = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["x", "a", "y", "b"], grades) == pytest.approx(0.49818925746641285)


def test_ndcg_cut_at_k_and_ideal_cut_at_k() -> None:
    grades = {"a": 1, "b": 1}
    assert ndcg_at_k(["x", "a"], grades, k=1) == 0.0
    # the ideal ranking is also cut at k=1: one relevant document at rank 1 is perfect
    assert ndcg_at_k(["a", "x"], grades, k=1) == 1.0


def test_ndcg_perfect_and_no_relevant() -> None:
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 3}) == pytest.approx(1.0)
    assert ndcg_at_k(["a"], {"a": 0}) == 0.0
    assert ndcg_at_k([], {"a": 1}) == 0.0


def test_repeated_ids_count_once() -> None:
    grades = {"a": 1, "b": 1}
    assert ndcg_at_k(["a", "a", "b"], grades) == pytest.approx(1.0)
    assert recall_at_k(["a", "a"], grades, k=2) == 0.5
    assert mrr_at_k(["x", "x", "a"], grades) == 0.5


def test_recall_hand_computed() -> None:
    grades = {"a": 1, "b": 2, "c": 1, "z": 0}
    assert recall_at_k(["a", "x", "b", "z"], grades, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "x", "b", "c"], grades, k=100) == 1.0
    assert recall_at_k(["z"], {"z": 0}, k=10) == 0.0


def test_mrr_hand_computed() -> None:
    grades = {"c": 1, "d": 1, "z": 0}
    assert mrr_at_k(["z", "b", "c", "d"], grades) == pytest.approx(1 / 3)
    assert mrr_at_k(["z", "b", "c"], grades, k=2) == 0.0


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "10"])
def test_invalid_k_is_rejected(k: object) -> None:
    with pytest.raises(ValueError, match="k must be a positive int"):
        ndcg_at_k(["a"], {"a": 1}, k=k)  # type: ignore[arg-type]


@given(rankings_st, grades_st)
def test_metrics_are_within_unit_interval(ranking: list[str], grades: dict[str, int]) -> None:
    for value in (
        ndcg_at_k(ranking, grades),
        recall_at_k(ranking, grades, 5),
        mrr_at_k(ranking, grades),
    ):
        assert 0.0 <= value <= 1.0 + 1e-12


@given(grades_st)
def test_ideal_ranking_scores_one(grades: dict[str, int]) -> None:
    ideal = sorted(grades, key=lambda d: -grades[d])
    expected = 1.0 if any(g > 0 for g in grades.values()) else 0.0
    assert ndcg_at_k(ideal, grades, k=10) == pytest.approx(expected)


@given(rankings_st, grades_st, st.integers(min_value=1, max_value=14))
def test_recall_never_drops_with_depth(ranking: list[str], grades: dict[str, int], k: int) -> None:
    assert recall_at_k(ranking, grades, k) <= recall_at_k(ranking, grades, k + 1)


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=40), st.floats(0, 100))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


def test_percentile_rejects_out_of_range_and_handles_empty() -> None:
    with pytest.raises(ValueError, match="q must be within"):
        percentile([1.0], 101)
    assert math.isnan(percentile([], 50))
    assert math.isnan(mean([]))


def test_evaluate_rankings_means_and_missing_runs_score_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = evaluate_rankings({"q1": ["a"]}, qrels, ndcg_k=10, recall_k=100, mrr_k=10)
    assert scores == {"ndcg@10": 0.5, "recall@100": 0.5, "mrr@10": 0.5}


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.01, 0.02, 0.03, 0.04])
    assert summary["p50_ms"] == pytest.approx(25.0)
    assert summary["p95_ms"] == pytest.approx(38.5)
    assert summary["qps"] == pytest.approx(40.0)
