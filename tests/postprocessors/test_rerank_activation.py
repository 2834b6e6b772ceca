"""Scores on the model's scale: CrossEncoderReranker vs sentence-transformers and LlamaIndex.

`SentenceTransformerRerank` returns what `CrossEncoder.predict` gives by default: the
activation the model's config names, else sigmoid for a one-label model. Ours must match it
(issue 16, item 5), so a `SimilarityPostprocessor` cutoff means the same after the swap.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from llama_index.core.postprocessor import SentenceTransformerRerank, SimilarityPostprocessor
from llama_index.core.schema import NodeWithScore, TextNode

from ragdrop.postprocessors import CrossEncoderReranker
from ragdrop.postprocessors.scoring import sigmoid

pytestmark = pytest.mark.integration

QUERY = "how does BM25 rank documents?"


def _plain(candidates: list[NodeWithScore]) -> list[NodeWithScore]:
    # LlamaIndex would read our fusion provenance as text; give both rerankers bare nodes.
    return [
        NodeWithScore(node=TextNode(text=c.node.text, id_=c.node.node_id), score=c.score)
        for c in candidates
    ]


def _pairs(nodes: list[NodeWithScore]) -> list[tuple[str, str]]:
    return [(QUERY, n.node.get_content()) for n in nodes]


def _by_id(nodes: list[NodeWithScore]) -> dict[str, float]:
    return {n.node.node_id: float(n.score or 0.0) for n in nodes}


def _with_activation(source: Path, target: Path, activation: str) -> Path:
    """A copy of the tiny model whose config.json names ``activation``."""
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config["sentence_transformers"] = {"activation_fn": activation}
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return target


def test_default_scores_equal_sentence_transformer_rerank(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    nodes = _plain(candidates)
    theirs = SentenceTransformerRerank(
        model=str(tiny_cross_encoder_path), top_n=len(nodes), device="cpu"
    ).postprocess_nodes(copy.deepcopy(nodes), query_str=QUERY)
    ours = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=len(nodes), device="cpu"
    ).postprocess_nodes(nodes, query_str=QUERY)
    expected = _by_id(theirs)
    assert _by_id(ours) == pytest.approx(expected, abs=1e-3)
    assert all(0.0 < s < 1.0 for s in expected.values())  # sigmoid, not logits


def test_raw_option_equals_predict_with_identity(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    import torch
    from sentence_transformers import CrossEncoder

    nodes = _plain(candidates)
    model = CrossEncoder(str(tiny_cross_encoder_path), device="cpu", max_length=512)
    logits = model.predict(_pairs(nodes), activation_fn=torch.nn.Identity())
    ours = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=None, device="cpu", activation="none"
    ).postprocess_nodes(nodes, query_str=QUERY)
    expected = {n.node.node_id: float(v) for n, v in zip(nodes, logits, strict=True)}
    assert _by_id(ours) == pytest.approx(expected, abs=1e-5)
    # The logit rides along in the provenance whatever the activation.
    default = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=None, device="cpu"
    ).postprocess_nodes(nodes, query_str=QUERY)
    for node in default:
        record = node.node.metadata["rerank"]
        assert record["logit"] == pytest.approx(expected[node.node.node_id], abs=1e-5)
        assert record["score"] == node.score == pytest.approx(sigmoid(record["logit"]))


def test_similarity_cutoff_keeps_the_same_nodes(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    nodes = _plain(candidates)
    # A cutoff between the scores, so the filter keeps some and drops some.
    cutoff = 0.5
    theirs = SentenceTransformerRerank(
        model=str(tiny_cross_encoder_path), top_n=len(nodes), device="cpu"
    ).postprocess_nodes(copy.deepcopy(nodes), query_str=QUERY)
    ours = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=len(nodes), device="cpu"
    ).postprocess_nodes(nodes, query_str=QUERY)
    scores = sorted(float(n.score or 0.0) for n in theirs)
    if not scores[0] < cutoff < scores[-1]:
        cutoff = (scores[0] + scores[-1]) / 2  # the tiny model's scores sit near 0.5
    cut = SimilarityPostprocessor(similarity_cutoff=cutoff)
    kept_theirs = {n.node.node_id for n in cut.postprocess_nodes(theirs, query_str=QUERY)}
    kept_ours = {n.node.node_id for n in cut.postprocess_nodes(ours, query_str=QUERY)}
    assert kept_ours == kept_theirs
    assert 0 < len(kept_ours) < len(nodes)
    at_half = SimilarityPostprocessor(similarity_cutoff=0.5)
    assert {n.node.node_id for n in at_half.postprocess_nodes(ours, query_str=QUERY)} == {
        n.node.node_id for n in at_half.postprocess_nodes(theirs, query_str=QUERY)
    }


@pytest.mark.parametrize(
    "activation",
    [
        "torch.nn.modules.linear.Identity",
        "torch.nn.modules.activation.Tanh",
        "torch.nn.modules.activation.Softsign",  # not one ragdrop applies without torch
        "builtins.abs",  # not torch: untrusted, sentence-transformers falls back to sigmoid
    ],
)
def test_an_activation_named_in_the_config_is_followed(
    tiny_cross_encoder_path: Path,
    candidates: list[NodeWithScore],
    tmp_path: Path,
    activation: str,
) -> None:
    from sentence_transformers import CrossEncoder

    path = _with_activation(tiny_cross_encoder_path, tmp_path / "ce", activation)
    nodes = _plain(candidates)
    expected = CrossEncoder(str(path), device="cpu", max_length=512).predict(_pairs(nodes))
    ours = CrossEncoderReranker(model=str(path), top_n=None, device="cpu").postprocess_nodes(
        nodes, query_str=QUERY
    )
    want = {n.node.node_id: float(v) for n, v in zip(nodes, expected, strict=True)}
    assert _by_id(ours) == pytest.approx(want, abs=1e-3)


def test_cached_scores_keep_the_activation_without_loading_the_model(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore], tmp_path: Path
) -> None:
    path = _with_activation(tiny_cross_encoder_path, tmp_path / "ce", "torch.nn.Tanh")
    nodes = _plain(candidates)

    def fresh(activation: str = "model") -> CrossEncoderReranker:
        return CrossEncoderReranker(
            model=str(path),
            top_n=None,
            device="cpu",
            cache_dir=str(tmp_path / "cache"),
            activation=activation,  # type: ignore[arg-type]
        )

    first = _by_id(fresh().postprocess_nodes(nodes, query_str=QUERY))
    restarted = fresh()
    again = _by_id(restarted.postprocess_nodes(nodes, query_str=QUERY))
    assert again == first and not restarted.model_loaded
    raw = fresh("none")  # the cache holds logits: any activation is served from it
    logits = _by_id(raw.postprocess_nodes(nodes, query_str=QUERY))
    assert not raw.model_loaded
    import math

    assert first == pytest.approx({k: math.tanh(v) for k, v in logits.items()}, abs=1e-6)


def test_int8_applies_the_same_activation(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    def int8(activation: str) -> dict[str, float]:
        model = CrossEncoderReranker(
            model=str(tiny_cross_encoder_path),
            top_n=None,
            device="cpu",
            precision="int8",
            activation=activation,  # type: ignore[arg-type]
        )
        return _by_id(model.postprocess_nodes(_plain(candidates), query_str=QUERY))

    logits = int8("none")
    assert int8("model") == pytest.approx({k: sigmoid(v) for k, v in logits.items()}, abs=1e-6)


def test_normalize_is_a_deprecated_alias(tiny_cross_encoder_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="activation='sigmoid'"):
        on = CrossEncoderReranker(model=str(tiny_cross_encoder_path), normalize=True)
    with pytest.warns(DeprecationWarning, match="activation='none'"):
        off = CrossEncoderReranker(model=str(tiny_cross_encoder_path), normalize=False)
    assert (on.activation, off.activation) == ("sigmoid", "none")
    assert CrossEncoderReranker(model=str(tiny_cross_encoder_path)).activation == "model"


def test_a_deep_copy_shares_the_loaded_model_and_serialises(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore], tmp_path: Path
) -> None:
    model = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=3, device="cpu", cache_dir=str(tmp_path)
    )
    expected = _by_id(model.postprocess_nodes(candidates, query_str=QUERY))
    twin = copy.deepcopy(model)
    assert twin.to_dict() == model.to_dict()
    assert _by_id(twin.postprocess_nodes(candidates, query_str=QUERY)) == expected
    assert twin._runner is model._runner and twin._lock is not model._lock
    restored = CrossEncoderReranker.from_json(model.to_json())
    assert restored.to_dict() == model.to_dict()
    assert _by_id(restored.postprocess_nodes(candidates, query_str=QUERY)) == expected
