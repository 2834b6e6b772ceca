"""Score fusion (z-score, DBSF, min-max) against hand-computed values, and its invariants."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.schema import NodeWithScore, TextNode

from ragdrop.retrievers.fusion import (
    FUSION_METHODS,
    fuse_ranked_ids,
    fuse_result_lists,
    fused_top,
    normalized_scores,
)

pytestmark = pytest.mark.unit


def nws(ident: str, score: float) -> NodeWithScore:
    return NodeWithScore(node=TextNode(text=ident, id_=ident), score=score)


def test_normalisations_equal_hand_computed() -> None:
    values = [4.0, 2.0, 0.0]
    mean, pop_sd = 2.0, math.sqrt(8 / 3)
    z, missing = normalized_scores(values, "zscore")
    assert z == pytest.approx([(v - mean) / pop_sd for v in values])
    assert missing == pytest.approx(min(z))
    sample_sd = 2.0  # Qdrant's DBSF: sample standard deviation
    dbsf, missing = normalized_scores(values, "dbsf")
    assert dbsf == pytest.approx([(v - (mean - 3 * sample_sd)) / (6 * sample_sd) for v in values])
    assert missing == 0.0
    assert normalized_scores(values, "minmax") == ([1.0, 0.5, 0.0], 0.0)


@pytest.mark.parametrize("method", ["zscore", "dbsf", "minmax"])
def test_degenerate_lists_neither_dominate_nor_vanish(method: str) -> None:
    assert normalized_scores([], method) == ([], 0.0)
    single, _ = normalized_scores([7.0], method)
    equal, _ = normalized_scores([3.0, 3.0], method)
    assert len(single) == 1 and len(equal) == 2
    assert all(math.isfinite(v) for v in single + equal)
    assert equal[0] == equal[1]


def test_zscore_fusion_equals_hand_computed_with_a_missing_document() -> None:
    bm25 = [nws("a", 9.0), nws("b", 3.0), nws("c", 0.0)]
    dense = [nws("b", 0.9), nws("d", 0.5), nws("a", 0.1)]
    before = copy.deepcopy((bm25, dense))
    fused = fuse_result_lists([bm25, dense], "zscore", sources=["bm25", "vector"])
    zb, mb = normalized_scores([9.0, 3.0, 0.0], "zscore")
    zd, md = normalized_scores([0.9, 0.5, 0.1], "zscore")
    want = {
        "a": zb[0] + zd[2],
        "b": zb[1] + zd[0],
        "c": zb[2] + md,  # not in the dense list: its lowest z-score
        "d": mb + zd[1],
    }
    got = {f.node.node_id: f.score for f in fused}
    assert got == pytest.approx(want)
    assert [f.node.node_id for f in fused] == sorted(want, key=lambda i: -want[i])
    assert fused[0].node.metadata["fusion"]["sources"]["bm25"]["rank"] in (1, 2)
    assert (bm25, dense) == before  # inputs untouched
    assert all("fusion" not in n.node.metadata for n in bm25 + dense)


def test_weights_scale_each_list_and_zero_drops_it() -> None:
    a = [("x", 3.0), ("y", 1.0)]
    b = [("y", 3.0), ("x", 1.0)]
    assert fuse_ranked_ids([a, b], weights=[2.0, 1.0], method="zscore")[0][0] == "x"
    assert fuse_ranked_ids([a, b], weights=[1.0, 2.0], method="zscore")[0][0] == "y"
    only_b = fuse_ranked_ids([a, b], weights=[0.0, 1.0], method="minmax")
    assert [i for i, _, _ in only_b] == ["y", "x"]


def test_lists_without_scores_fuse_by_rank() -> None:
    a: list[tuple[str, float | None]] = [("x", None), ("y", None)]
    b: list[tuple[str, float | None]] = [("y", 0.2), ("z", 0.1)]
    fused = fuse_ranked_ids([a, b], method="zscore")
    scores = {i: s for i, s, _ in fused}
    # a is scored -rank (x: -1, y: -2): x and y each lead one list, so they tie.
    assert scores["x"] == pytest.approx(scores["y"])
    assert [i for i, _, _ in fused] == ["x", "y", "z"]  # tie: best rank, then list order


def test_unknown_method_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        fuse_ranked_ids([[("x", 1.0)]], method="borda")


ranked_lists = st.lists(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(-5, 5, allow_nan=False)), max_size=6),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(ranked_lists, st.sampled_from(FUSION_METHODS))
def test_fusion_scores_only_listed_ids_and_top_agrees(
    lists: list[list[tuple[str, float]]], method: str
) -> None:
    lists = [sorted(lst, key=lambda p: -p[1]) for lst in lists]
    fused = fuse_ranked_ids(lists, method=method)
    listed = {i for lst in lists for i, _ in lst}
    assert {i for i, _, _ in fused} == listed
    scores = [s for _, s, _ in fused]
    assert scores == sorted(scores, reverse=True)
    if len(lists) == 2:
        fusion = {"method": method, "k": 60.0, "weights": (1.0, 1.0)}
        top = fused_top(lists[0], lists[1], 3, fusion)
        assert top == [i for i, _, _ in fused[:3]]
