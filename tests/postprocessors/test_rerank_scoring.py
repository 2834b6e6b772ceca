"""Pure helpers of the reranker: dedup, batching, token budget, ranking, sigmoid."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.postprocessors.scoring import (
    content_hash,
    length_sorted_batches,
    rank_indices,
    sigmoid,
    split_token_budget,
    unique_positions,
)

pytestmark = pytest.mark.unit


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=30))
def test_unique_positions_maps_every_candidate_to_its_first_twin(keys: list[str]) -> None:
    firsts, slot = unique_positions(keys)
    assert len(firsts) == len(set(keys))
    assert len(slot) == len(keys)
    for i, j in enumerate(slot):
        assert keys[firsts[j]] == keys[i]
        assert firsts[j] <= i


@given(st.lists(st.integers(0, 600), max_size=60), st.integers(1, 17))
def test_length_sorted_batches_partition_longest_first(lengths: list[int], size: int) -> None:
    batches = length_sorted_batches(lengths, size)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(0 < len(b) <= size for b in batches)
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_length_sorted_batches_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        length_sorted_batches([1, 2], 0)


@given(st.integers(0, 5000), st.integers(8, 1024), st.integers(0, 4), st.integers(1, 128))
def test_token_budget_fits_and_keeps_short_queries_whole(
    query: int, max_length: int, special: int, floor: int
) -> None:
    kept, budget = split_token_budget(query, max_length, special, floor)
    assert kept + budget + special == max_length
    assert budget >= 1
    if query + special + floor <= max_length:
        assert kept == query


def test_token_budget_rejects_a_window_without_room() -> None:
    with pytest.raises(ValueError, match="max_length=3"):
        split_token_budget(5, 3, 2, 16)


@given(
    st.lists(st.floats(-50, 50, allow_nan=False), max_size=40),
    st.one_of(st.none(), st.integers(1, 50)),
    st.one_of(st.none(), st.floats(-50, 50, allow_nan=False)),
)
def test_rank_indices_sorted_filtered_and_cut(
    scores: list[float], top_n: int | None, threshold: float | None
) -> None:
    order = rank_indices(scores, top_n, threshold)
    ranked = [scores[i] for i in order]
    assert ranked == sorted(ranked, reverse=True)
    assert len(set(order)) == len(order)
    if threshold is not None:
        assert all(s >= threshold for s in ranked)
    eligible = [s for s in scores if threshold is None or s >= threshold]
    assert len(order) == (len(eligible) if top_n is None else min(top_n, len(eligible)))


def test_rank_indices_ties_keep_input_order() -> None:
    assert rank_indices([1.0, 2.0, 1.0, 2.0], None, None) == [1, 3, 0, 2]


@given(st.floats(-1000, 1000, allow_nan=False))
def test_sigmoid_is_stable_and_bounded(x: float) -> None:
    y = sigmoid(x)
    assert 0.0 <= y <= 1.0
    if abs(x) < 30:
        assert y == pytest.approx(1 / (1 + math.exp(-x)))
    assert sigmoid(-x) == pytest.approx(1 - y, abs=1e-12)


def test_content_hash_is_sha256_of_the_text() -> None:
    assert content_hash("a") != content_hash("a ")
    assert len(content_hash("x")) == 64
