"""The runner on a tiny synthetic dataset: every system, shared embeddings, cache, chunking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_data import TINY_CORPUS, write_beir
from llama_index.core.schema import NodeWithScore, TextNode

from ragdrop.evaluation import (
    EvalSettings,
    EvalSystem,
    SystemUnavailable,
    default_systems,
    document_ranking,
    load_beir,
    markdown_table,
    run_evaluation,
    write_outputs,
)
from ragdrop.evaluation.runner import DOC_ID_KEY

pytestmark = pytest.mark.integration


def _node(doc_id: str, score: float) -> NodeWithScore:
    return NodeWithScore(node=TextNode(text=doc_id, metadata={DOC_ID_KEY: doc_id}), score=score)


@pytest.mark.unit
def test_document_ranking_keeps_each_documents_best_chunk() -> None:
    nodes = [_node("a", 0.9), _node("b", 0.8), _node("a", 0.7), _node("c", 0.6), _node("d", 0.5)]
    assert document_ranking(nodes, top_k=10) == ["a", "b", "c", "d"]
    assert document_ranking(nodes, top_k=2) == ["a", "b"]


@pytest.mark.unit
@pytest.mark.parametrize("field", ["top_k", "candidates", "rerank_depth"])
def test_settings_reject_non_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EvalSettings(**{field: 0})


def test_every_system_on_shared_embeddings(
    tiny_beir_dir: Path,
    tmp_path: Path,
    embed_model: object,
    tiny_cross_encoder_path: Path,
) -> None:
    dataset = load_beir(tiny_beir_dir)
    settings = EvalSettings(
        top_k=5,
        cache_dir=tmp_path / "cache",
        rerank_model=str(tiny_cross_encoder_path),
        rerank_depth=3,
        progress=False,
    )
    report = run_evaluation(dataset, default_systems(), embed_model, settings)  # type: ignore[arg-type]

    names = [r.name for r in report.results]
    assert names == [s.name for s in default_systems()]
    assert all(r.skipped is None for r in report.results), [r.skipped for r in report.results]
    assert report.num_queries == 4 and report.num_units == len(TINY_CORPUS)
    for name in [n for n in names if n != "hybrid_rerank"]:
        result = report.result(name)
        # every query has one obviously matching document
        assert result.metrics["ndcg@10"] > 0.9, (name, result.per_query_ndcg)
        assert result.metrics["recall@5"] == 1.0
        assert result.latency["p50_ms"] > 0 and result.latency["qps"] > 0
    # the tiny cross-encoder is random, but reranking only reorders the first 3 candidates
    rerank = report.result("hybrid_rerank")
    assert rerank.metrics["recall@5"] == report.result("hybrid").metrics["recall@5"]
    assert not report.embedding["corpus_from_cache"]

    outputs = write_outputs(report, tmp_path / "out", command="ragdrop eval tiny")
    assert outputs["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(outputs["json"].read_text())
    assert data["command"] == "ragdrop eval tiny"
    assert {r["name"] for r in data["results"]} == set(names)
    assert data["results"][0]["per_query_ndcg@10"].keys() == set(dataset.queries)
    table = outputs["markdown"].read_text()
    assert "LlamaIndex QueryFusionRetriever (RRF)" in table and "ragdrop eval tiny" in table


def test_second_run_uses_cached_embeddings_and_skips_missing_systems(
    tiny_beir_dir: Path, tmp_path: Path, embed_model: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAGDROP_RERANK_MODEL", raising=False)

    def unavailable(_context: object) -> object:
        raise SystemUnavailable("not here")

    systems = [s for s in default_systems() if s.name in ("llamaindex_bm25", "hybrid_rerank")] + [
        EvalSystem("ghost", "Ghost", unavailable)
    ]
    settings = EvalSettings(cache_dir=tmp_path / "cache", progress=False)
    dataset = load_beir(tiny_beir_dir)
    run_evaluation(dataset, systems[:1], embed_model, settings)  # type: ignore[arg-type]
    report = run_evaluation(dataset, systems, embed_model, settings)  # type: ignore[arg-type]

    assert report.embedding["corpus_from_cache"]
    assert report.result("ghost").skipped == "not here"
    skipped = report.result("hybrid_rerank").skipped
    # unless a cross-encoder sits in the local hub cache, the run says how to add one
    assert skipped is None or "--rerank-model" in skipped
    assert "skipped: not here" in markdown_table(report)


def test_chunking_scores_documents_by_their_best_chunk(tmp_path: Path, embed_model: object) -> None:
    long_text = " ".join(f"Line {i} lists harbour ferry timetables." for i in range(80))
    corpus = dict(TINY_CORPUS) | {
        "long": ("Long", long_text + " Saffron crocus bulbs: plant saffron crocus bulbs in autumn.")
    }
    root = write_beir(
        tmp_path / "chunky",
        corpus=corpus,
        queries={"q": "when to plant saffron crocus bulbs"},
        qrels=[("q", "long", 1)],
    )
    settings = EvalSettings(chunking=True, chunk_size=64, top_k=5, progress=False)
    systems = [s for s in default_systems() if s.name in ("dense", "bm25")]
    report = run_evaluation(load_beir(root), systems, embed_model, settings)  # type: ignore[arg-type]

    assert report.num_units > len(corpus)
    for result in report.results:
        # the answer sits in the last chunk of a long document: without chunking it would be
        # cut off by the model's 256-token window
        assert result.metrics["mrr@10"] == 1.0, result.name
