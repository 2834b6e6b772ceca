from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from ragdrop.retrievers.fusion import fuse_ranked_ids, reciprocal_rank_fusion

pytestmark = pytest.mark.unit


def nws(node_id: str, score: float = 1.0, **meta: object) -> NodeWithScore:
    return NodeWithScore(
        node=TextNode(text=f"text {node_id}", id_=node_id, metadata=dict(meta)), score=score
    )


def ids(results: list[NodeWithScore]) -> list[str]:
    return [r.node.node_id for r in results]


def test_equals_hand_computed_rrf() -> None:
    a = [nws("x", 9), nws("y", 8), nws("z", 7)]
    b = [nws("z", 0.9), nws("x", 0.5)]
    fused = reciprocal_rank_fusion([a, b], k=60)
    expected = {"x": 1 / 61 + 1 / 62, "y": 1 / 62, "z": 1 / 63 + 1 / 61}
    assert ids(fused) == ["x", "z", "y"]
    for r in fused:
        assert r.score == pytest.approx(expected[r.node.node_id], abs=1e-15)


def test_weights_scale_each_source() -> None:
    a = [nws("x"), nws("y")]
    b = [nws("y"), nws("x")]
    fused = reciprocal_rank_fusion([a, b], k=10, weights=[1.0, 3.0])
    assert ids(fused) == ["y", "x"]
    assert fused[0].score == pytest.approx(1 / 12 + 3 / 11)


def test_depth_limits_candidates_per_source() -> None:
    a = [nws("x"), nws("y"), nws("z")]
    b = [nws("w")]
    assert set(ids(reciprocal_rank_fusion([a, b], depth=[1, None]))) == {"x", "w"}
    assert ids(reciprocal_rank_fusion([a, b], depth=2, top_k=1)) in (["x"], ["w"])


def test_provenance_and_no_mutation() -> None:
    a = [nws("x", 2.5, lang="en")]
    b = [nws("y", 0.7), nws("x", 0.6)]
    before = [(n.node.metadata.copy(), n.score) for n in a + b]
    fused = reciprocal_rank_fusion([a, b], sources=["bm25", "vector"])
    assert [(n.node.metadata, n.score) for n in a + b] == before
    x = fused[0]
    assert x.node is not a[0].node
    assert x.node.metadata["lang"] == "en"
    assert x.node.metadata["fusion"]["sources"] == {
        "bm25": {"rank": 1, "score": 2.5},
        "vector": {"rank": 2, "score": 0.6},
    }
    assert "fusion" in x.node.excluded_embed_metadata_keys
    assert "fusion" in x.node.excluded_llm_metadata_keys
    assert "fusion" not in x.node.get_content(metadata_mode=MetadataMode.LLM)
    assert "fusion" not in a[0].node.excluded_llm_metadata_keys


def test_duplicates_within_a_list_vote_once() -> None:
    fused = reciprocal_rank_fusion([[nws("x"), nws("x"), nws("y")]], k=0)
    assert [r.score for r in fused] == [pytest.approx(1.0), pytest.approx(0.5)]


def test_empty_inputs() -> None:
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"k": -1}, "k must"),
        ({"weights": [1.0]}, "weights has 1"),
        ({"weights": [1.0, -2]}, "weights must"),
        ({"depth": 0}, "depth must"),
        ({"sources": ["a"]}, "sources has 1"),
    ],
)
def test_invalid_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        reciprocal_rank_fusion([[nws("a")], [nws("b")]], **kwargs)


ranked_lists = st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=8), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(ranked_lists, st.data())
def test_properties(lists: list[list[str]], data: st.DataObject) -> None:
    weights = data.draw(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=len(lists), max_size=len(lists))
    )
    k = data.draw(st.sampled_from([0, 1, 60]))
    inputs = [[nws(i) for i in lst] for lst in lists]
    fused = reciprocal_rank_fusion(inputs, k=k, weights=weights)
    present = {i for lst, w in zip(lists, weights, strict=True) if w > 0 for i in lst}
    # a node absent from every (weighted) list never appears; each appears once
    assert set(ids(fused)) == present
    assert len(ids(fused)) == len(present)
    # scores never increase down the list
    scores = [r.score for r in fused]
    assert scores == sorted(scores, reverse=True)
    # a weight of 0 is the same as removing the list
    kept = [(lst, w) for lst, w in zip(inputs, weights, strict=True) if w > 0]
    without = reciprocal_rank_fusion([lst for lst, _ in kept], k=k, weights=[w for _, w in kept])
    assert [(r.node.node_id, r.score) for r in without] == [
        (r.node.node_id, r.score) for r in fused
    ]
    # deterministic
    again = reciprocal_rank_fusion(inputs, k=k, weights=weights)
    assert ids(again) == ids(fused)


def test_invalid_top_k_and_weights_raise() -> None:
    a, b = [nws("x"), nws("y")], [nws("y")]
    assert ids(reciprocal_rank_fusion([a, b], top_k=1)) == ["y"]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="top_k"):
            reciprocal_rank_fusion([a, b], top_k=bad)
    for weights in ([float("nan"), 1.0], [1.0, float("inf")], [1.0, -1.0], [1.0, "1"]):
        with pytest.raises(ValueError, match="weights"):
            reciprocal_rank_fusion([a, b], weights=weights)
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([a, b], weights=[1.0])


def test_fuse_ranked_ids_validates_too() -> None:
    ranked = [[("x", 1.0)], [("x", 0.5), ("y", 0.4)]]
    assert [i for i, _, _ in fuse_ranked_ids(ranked, top_k=1)] == ["x"]
    with pytest.raises(ValueError, match="top_k"):
        fuse_ranked_ids(ranked, top_k=0)
    with pytest.raises(ValueError, match="weights"):
        fuse_ranked_ids(ranked, weights=[float("nan"), 1.0])
