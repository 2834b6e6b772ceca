"""Breakpoint rules, window distances and small-group merging, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.node_parsers.breakpoints import (
    BreakpointRule,
    check_amount,
    find_breakpoints,
    gradient_breakpoints,
    merge_small_groups,
    percentile_breakpoints,
    stddev_breakpoints,
    threshold_breakpoints,
    window_distances,
)

pytestmark = pytest.mark.unit

DISTANCES = np.array([0.1, 0.1, 0.9, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1])


def test_percentile_breaks_above_the_percentile() -> None:
    assert percentile_breakpoints(DISTANCES, 95) == [2]
    # 80th percentile of DISTANCES is 0.12: 0.9 and 0.2 exceed it.
    assert percentile_breakpoints(DISTANCES, 80) == [2, 4]
    assert percentile_breakpoints(np.zeros(0), 95) == []
    assert percentile_breakpoints(np.array([0.5]), 95) == []


def test_threshold_breaks_below_similarity() -> None:
    # similarity 1 - d: 0.9, 0.9, 0.1, 0.9, 0.8, ...; below 0.85 at indices 2 and 4.
    assert threshold_breakpoints(DISTANCES, 0.85) == [2, 4]
    assert threshold_breakpoints(DISTANCES, 0.7) == [2]
    assert threshold_breakpoints(DISTANCES, 0.0) == []


def test_stddev_breaks_beyond_k_deviations() -> None:
    mean, std = DISTANCES.mean(), DISTANCES.std()
    assert mean + 2 * std < 0.9 < mean + 3 * std
    assert stddev_breakpoints(DISTANCES, 2) == [2]
    assert stddev_breakpoints(DISTANCES, 3) == []
    assert stddev_breakpoints(np.zeros(0), 3) == []


def test_gradient_breaks_where_distance_rises_fastest() -> None:
    # np.gradient: central differences; the steepest rise is just before the peak.
    gradient = np.gradient(DISTANCES)
    assert int(np.argmax(gradient)) == 1
    assert gradient_breakpoints(DISTANCES, 95) == [1]
    assert gradient_breakpoints(np.array([0.3]), 95) == []


@pytest.mark.parametrize("rule", list(BreakpointRule))
def test_dispatch_matches_the_rule_function(rule: BreakpointRule) -> None:
    functions = {
        BreakpointRule.PERCENTILE: (percentile_breakpoints, 90.0),
        BreakpointRule.THRESHOLD: (threshold_breakpoints, 0.85),
        BreakpointRule.STDDEV: (stddev_breakpoints, 1.0),
        BreakpointRule.GRADIENT: (gradient_breakpoints, 90.0),
    }
    function, amount = functions[rule]
    assert find_breakpoints(rule, DISTANCES, amount) == function(DISTANCES, amount)


@pytest.mark.parametrize(
    ("rule", "amount"),
    [
        ("percentile", 101),
        ("percentile", -1),
        ("gradient", 150),
        ("threshold", 1.5),
        ("stddev", -0.1),
    ],
)
def test_out_of_range_amounts_are_rejected(rule: str, amount: float) -> None:
    with pytest.raises(ValueError, match="breakpoint_amount"):
        check_amount(BreakpointRule(rule), amount)


def test_window_distances_sum_neighbours() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert np.allclose(window_distances(vectors, 0), [0.0, 1.0, 0.0])
    # buffer 1: windows are sums [2,0], [2,1], [1,2], [0,2].
    windows = np.array([[2, 0], [2, 1], [1, 2], [0, 2]], dtype=float)
    unit = windows / np.linalg.norm(windows, axis=1)[:, None]
    expected = 1 - (unit[:-1] * unit[1:]).sum(axis=1)
    assert np.allclose(window_distances(vectors, 1), expected)
    assert window_distances(vectors[:1], 1).size == 0


def test_merge_small_groups_joins_the_closer_neighbour() -> None:
    # The small middle group is closer to the right (0.2 < 0.5).
    assert merge_small_groups([2, 3, 6], [40, 5, 50], [0.5, 0.2], 10, 100) == [2, 6]
    # ... to the left when that is closer.
    assert merge_small_groups([2, 3, 6], [40, 5, 50], [0.1, 0.2], 10, 100) == [3, 6]
    # ... to the only neighbour that fits.
    assert merge_small_groups([2, 3, 6], [40, 5, 98], [0.5, 0.2], 10, 100) == [3, 6]
    # Nothing fits: left as is.
    assert merge_small_groups([2, 3, 6], [98, 5, 98], [0.5, 0.2], 10, 100) == [2, 3, 6]
    assert merge_small_groups([4], [3], [], 10, 100) == [4]


@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=30).flatmap(
        lambda sizes: st.tuples(
            st.just(sizes),
            st.lists(st.floats(0, 2), min_size=len(sizes) - 1, max_size=len(sizes) - 1),
        )
    ),
    st.integers(0, 40),
)
def test_merge_keeps_order_and_budget(case: tuple[list[int], list[float]], min_size: int) -> None:
    sizes, distances = case
    max_size = 60
    bounds = list(np.cumsum([1] * len(sizes)))
    ends = merge_small_groups(bounds, sizes, distances, min_size, max_size)
    assert ends == sorted(set(ends)) and ends[-1] == bounds[-1] and set(ends) <= set(bounds)
    start = 0
    for end in ends:
        merged = sum(sizes[start:end])
        assert merged <= max_size or end - start == 1
        start = end
