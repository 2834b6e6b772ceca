"""CrossEncoderReranker on a real (tiny) cross-encoder, a real SafeCache and LlamaIndex nodes."""

from __future__ import annotations

import copy
import json
import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core.postprocessor import SentenceTransformerRerank
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from ragdrop.embeddings import ModelNotAvailableError
from ragdrop.postprocessors import CrossEncoderReranker
from ragdrop.postprocessors.scoring import sigmoid

pytestmark = pytest.mark.integration

QUERY = "how does BM25 rank documents?"


@pytest.fixture(scope="module")
def reranker(tiny_cross_encoder_path: Path) -> CrossEncoderReranker:
    """One loaded reranker (raw logits) shared by the tests that do not count model calls."""
    model = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=None, device="cpu", activation="none"
    )
    model.warm_up()
    return model


def _snapshot(nodes: list[NodeWithScore]) -> list[dict[str, object]]:
    return [copy.deepcopy(n.model_dump()) for n in nodes]


def test_scores_equal_reference_logits_and_are_sorted(
    reranker: CrossEncoderReranker,
    candidates: list[NodeWithScore],
    reference_logits: Callable[..., list[float]],
) -> None:
    out = reranker.postprocess_nodes(candidates, query_str=QUERY)
    assert len(out) == len(candidates)
    scores = [n.score for n in out]
    assert scores == sorted(scores, reverse=True)
    expected = dict(
        zip(
            [c.node.node_id for c in candidates],
            reference_logits(QUERY, [f"source: fixture\n\n{c.node.text}" for c in candidates]),
            strict=True,
        )
    )
    for node in out:
        assert node.score == pytest.approx(expected[node.node.node_id], abs=1e-5)


def test_same_order_as_llamaindex_sentence_transformer_rerank(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    # LlamaIndex would read the fusion provenance as text; give it nodes without any.
    plain = [NodeWithScore(node=TextNode(text=c.node.text), score=c.score) for c in candidates]
    baseline = SentenceTransformerRerank(model=str(tiny_cross_encoder_path), top_n=4, device="cpu")
    theirs = baseline.postprocess_nodes(copy.deepcopy(plain), query_str=QUERY)
    ours = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path), top_n=4, device="cpu"
    ).postprocess_nodes(plain, query_str=QUERY)
    # Ties (the duplicated passage) may come in either order; compare the texts and scores.
    assert [n.node.get_content() for n in ours] == [n.node.get_content() for n in theirs]
    assert [n.score for n in ours] == pytest.approx([float(n.score) for n in theirs], abs=1e-5)


def test_top_n_and_threshold(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    everything = reranker.postprocess_nodes(candidates, query_str=QUERY)
    top2 = reranker.model_copy(update={"top_n": 2}).postprocess_nodes(candidates, query_str=QUERY)
    assert [n.node.node_id for n in top2] == [n.node.node_id for n in everything[:2]]
    cut = everything[2].score
    kept = reranker.model_copy(update={"score_threshold": cut}).postprocess_nodes(
        candidates, query_str=QUERY
    )
    assert [n.score for n in kept] == [n.score for n in everything if n.score >= cut]
    assert all(n.score >= cut for n in kept)


def test_sigmoid_activation_applies_sigmoid_to_the_logits(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    raw = reranker.postprocess_nodes(candidates, query_str=QUERY)
    unit = reranker.model_copy(update={"activation": "sigmoid"}).postprocess_nodes(
        candidates, query_str=QUERY
    )
    assert [n.node.node_id for n in unit] == [n.node.node_id for n in raw]
    assert [n.score for n in unit] == pytest.approx([sigmoid(n.score) for n in raw])
    assert all(0.0 < n.score < 1.0 for n in unit)


def test_identical_passages_are_scored_once(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    model = CrossEncoderReranker(model=str(tiny_cross_encoder_path), top_n=None, device="cpu")
    out = model.postprocess_nodes(candidates, query_str=QUERY)
    # n0 and n3 differ only in their fusion provenance, which the model never reads.
    assert model.pairs_scored == len({c.node.text for c in candidates}) == len(candidates) - 1
    by_id = {n.node.node_id: n.score for n in out}
    assert by_id["n0"] == by_id["n3"]  # same text, same score, both kept


def test_output_is_json_serialisable_and_keeps_provenance(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    out = reranker.postprocess_nodes(candidates, query_str=QUERY)
    retrieval = {c.node.node_id: c.score for c in candidates}
    for node in out:
        assert type(node.score) is float
        info = node.node.metadata["rerank"]
        assert info == {
            "score": node.score,
            "logit": node.score,  # this reranker gives raw logits
            "retrieval_score": retrieval[node.node.node_id],
        }
        assert node.node.metadata["fusion"]["sources"] == ["bm25"]
        assert "rerank" not in node.node.get_content(metadata_mode=MetadataMode.LLM)
        assert "rerank" not in node.node.get_content(metadata_mode=MetadataMode.EMBED)
    payload = json.dumps([{"score": n.score, "metadata": n.node.metadata} for n in out])
    assert json.loads(payload)[0]["metadata"]["rerank"]["score"] == out[0].score


def test_inputs_are_never_mutated(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    before = _snapshot(candidates)
    out = reranker.postprocess_nodes(candidates, query_str=QUERY)
    assert _snapshot(candidates) == before
    originals = {id(c.node) for c in candidates} | {id(c) for c in candidates}
    assert not any(id(n) in originals or id(n.node) in originals for n in out)


async def test_async_matches_sync(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    sync = reranker.postprocess_nodes(candidates, query_str=QUERY)
    asyn = await reranker.apostprocess_nodes(candidates, query_bundle=QueryBundle(QUERY))
    assert [(n.node.node_id, n.score) for n in asyn] == [(n.node.node_id, n.score) for n in sync]


def test_empty_input_and_missing_query(tiny_cross_encoder_path: Path) -> None:
    model = CrossEncoderReranker(model=str(tiny_cross_encoder_path), device="cpu")
    assert model.postprocess_nodes([], query_str=QUERY) == []
    assert not model.model_loaded
    node = NodeWithScore(node=TextNode(text="x"), score=1.0)
    with pytest.raises(ValueError, match="needs the question"):
        model.postprocess_nodes([node])
    with pytest.raises(ValueError, match="needs the question"):
        model.postprocess_nodes([node], query_str="   ")


def test_long_passage_is_cut_and_the_query_kept_whole(
    tiny_cross_encoder_path: Path, reference_logits: Callable[..., list[float]]
) -> None:
    model = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path),
        max_length=48,
        top_n=None,
        device="cpu",
        activation="none",
    )
    passages = [
        "bm25 " * 400,
        "the quick brown fox jumps over the lazy dog " * 60,
        "short passage",
        "x" * 3000 + " tail words here",  # one giant [UNK] word, then more
    ]
    nodes = [NodeWithScore(node=TextNode(text=p, id_=str(i))) for i, p in enumerate(passages)]
    out = {n.node.node_id: n.score for n in model.postprocess_nodes(nodes, query_str=QUERY)}
    expected = reference_logits(QUERY, passages, max_length=48)
    for i, value in enumerate(expected):
        assert out[str(i)] == pytest.approx(value, abs=1e-5)
    # A query longer than the window still leaves room for the passage.
    long_query = "why " * 100
    assert len(model.postprocess_nodes(nodes, query_str=long_query)) == len(nodes)


def test_max_length_defaults_to_the_models_own(tiny_cross_encoder_path: Path) -> None:
    model = CrossEncoderReranker(model=str(tiny_cross_encoder_path))
    assert model.resolved_max_length == 512  # tokenizer model_max_length, max positions
    assert not model.model_loaded


def _tamper_one_entry(cache_dir: Path, mode: int, value: bytes) -> None:
    con = sqlite3.connect(str(cache_dir / "rerank" / "cache.db"))
    with con:
        con.execute(
            "UPDATE Cache SET mode = ?, value = ? WHERE rowid = (SELECT min(rowid) FROM Cache)",
            (mode, sqlite3.Binary(value)),
        )
    con.close()


def test_cache_serves_a_new_instance_without_loading_the_model(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore], tmp_path: Path
) -> None:
    def fresh() -> CrossEncoderReranker:
        return CrossEncoderReranker(
            model=str(tiny_cross_encoder_path), top_n=None, device="cpu", cache_dir=str(tmp_path)
        )

    first = fresh().postprocess_nodes(candidates, query_str=QUERY)
    restarted = fresh()
    again = restarted.postprocess_nodes(candidates, query_str=QUERY)
    assert [(n.node.node_id, n.score) for n in again] == [(n.node.node_id, n.score) for n in first]
    assert not restarted.model_loaded and restarted.pairs_scored == 0
    # Only the new pair runs through the model; another question is another key.
    extra = NodeWithScore(node=TextNode(text="a brand new passage", id_="new"), score=0.0)
    restarted.postprocess_nodes([*candidates, extra], query_str=QUERY)
    assert restarted.pairs_scored == 1
    restarted.postprocess_nodes(candidates[:2], query_str="another question")
    assert restarted.pairs_scored == 3


@pytest.mark.parametrize(
    ("mode", "value"),
    [(4, pickle.dumps({"score": 1e9})), (1, b'"not a score"'), (1, b"\xff\xfe")],
    ids=["pickle", "json-string", "not-utf8"],
)
def test_tampered_cache_entry_is_a_miss(
    tiny_cross_encoder_path: Path,
    candidates: list[NodeWithScore],
    tmp_path: Path,
    mode: int,
    value: bytes,
) -> None:
    def fresh() -> CrossEncoderReranker:
        return CrossEncoderReranker(
            model=str(tiny_cross_encoder_path), top_n=None, device="cpu", cache_dir=str(tmp_path)
        )

    first = fresh().postprocess_nodes(candidates, query_str=QUERY)
    _tamper_one_entry(tmp_path, mode, value)
    restarted = fresh()
    again = restarted.postprocess_nodes(candidates, query_str=QUERY)
    assert [n.score for n in again] == pytest.approx([n.score for n in first], abs=1e-6)
    assert restarted.pairs_scored == 1  # only the tampered pair was recomputed
    if mode == 4:
        assert restarted._cache.stats.rejected == 1


@pytest.mark.parametrize("name", ["/no/such/cross-encoder", "cross-encoder/not-in-the-cache"])
def test_missing_model_names_the_model_and_the_fix(name: str) -> None:
    model = CrossEncoderReranker(model=name)  # nothing is resolved or loaded yet
    node = NodeWithScore(node=TextNode(text="x"), score=1.0)
    with pytest.raises(ModelNotAvailableError) as info:
        model.postprocess_nodes([node], query_str=QUERY)
    message = str(info.value)
    assert repr(name) in message
    assert "model='/models/" in message and "--rerank-model" in message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": "gpu"},
        {"top_n": 0},
        {"batch_size": 0},
        {"backend": "tensorrt"},
        {"model": " "},
        {"precision": "int4"},
        {"precision": "int8", "backend": "onnx"},
        {"activation": "softmax"},
        {"normalize": "yes"},
        {"normalize": True, "activation": "none"},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CrossEncoderReranker(**kwargs)


@pytest.mark.parametrize("precision", ["int8", "bfloat16"])
def test_reduced_precision_scores_every_candidate(
    tiny_cross_encoder_path: Path,
    candidates: list[NodeWithScore],
    reranker: CrossEncoderReranker,
    precision: str,
) -> None:
    model = CrossEncoderReranker(
        model=str(tiny_cross_encoder_path),
        top_n=None,
        device="cpu",
        precision=precision,
        activation="none",
    )
    out = model.postprocess_nodes(candidates, query_str=QUERY)
    assert len(out) == len(candidates) and all(type(n.score) is float for n in out)
    full = {
        n.node.node_id: n.score for n in reranker.postprocess_nodes(candidates, query_str=QUERY)
    }
    for node in out:  # close to float32, not equal (the ranking agreement is benchmarked)
        assert node.score == pytest.approx(full[node.node.node_id], abs=0.05)


def test_missing_backend_package_says_what_to_install(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    from ragdrop.postprocessors.cross_encoder_model import missing_backend_packages

    if not missing_backend_packages("openvino"):
        pytest.skip("sentence-transformers' OpenVINO backend is installed here")
    model = CrossEncoderReranker(model=str(tiny_cross_encoder_path), backend="openvino")
    with pytest.raises(ImportError, match=r"sentence-transformers\[openvino\]"):
        model.postprocess_nodes(candidates, query_str=QUERY)


def test_changed_settings_take_effect_on_the_next_call(
    reranker: CrossEncoderReranker, candidates: list[NodeWithScore]
) -> None:
    short = reranker.model_copy(update={"max_length": 16})
    assert short.resolved_max_length == 16
    assert reranker.resolved_max_length == 512  # the original keeps its model
    cut = {n.node.node_id: n.score for n in short.postprocess_nodes(candidates, query_str=QUERY)}
    full = {
        n.node.node_id: n.score for n in reranker.postprocess_nodes(candidates, query_str=QUERY)
    }
    assert cut != full


def test_concurrent_first_calls_load_the_model_once(
    tiny_cross_encoder_path: Path, candidates: list[NodeWithScore]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = CrossEncoderReranker(model=str(tiny_cross_encoder_path), top_n=None, device="cpu")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: model.postprocess_nodes(candidates, query_str=QUERY), range(4))
        )
    # Concurrent forward passes share torch's intra-op pool, whose split of a reduction can
    # change the last bits of a float: compare scores to a tolerance, not bit for bit.
    first = {n.node.node_id: n.score for n in results[0]}
    for r in results:
        assert {n.node.node_id: n.score for n in r} == pytest.approx(first, rel=1e-5, abs=1e-6)
    runner = model._runner
    assert runner is not None and runner.pairs_scored == 4 * (len(candidates) - 1)
    model.warm_up()
    assert model._runner is runner  # one runner, one load
