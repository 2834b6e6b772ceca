"""The pipeline end to end on a real on-disk Qdrant and the real MiniLM model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llama_index.core import Document
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from ragdrop.core.protocols import WriteEvent
from ragdrop.observability.sources import IndexStats
from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.retrievers import HybridRetriever
from ragdrop.retrievers.feedback import PseudoRelevanceFeedback

pytestmark = pytest.mark.integration


@pytest.fixture()
def pipeline(tmp_path: Path, embed_model):
    config = PipelineConfig(data_dir=tmp_path / "rag", collection="t", ingest_batch_size=2)
    pipe = RagPipeline(config)
    yield pipe
    pipe.close()


def _points(pipe: RagPipeline) -> int:
    return pipe.components.client.count(collection_name=pipe.config.collection).count


def test_ingest_then_answer_with_sources_and_timings(pipeline, fixture_documents):
    report = pipeline.ingest(fixture_documents)
    assert report.added == len(fixture_documents)
    assert report.nodes_written >= len(fixture_documents)
    result = pipeline.query("How does the with statement close files?", top_k=2)
    assert result.sources[0].ref_doc_id == "python_with"
    assert "[1]" in result.answer
    assert result.mode == "extractive"
    # every sentence of the answer is quoted from a source passage
    body = " ".join(s.text for s in result.sources)
    for sentence in result.answer.split(" [")[0:1]:
        assert " ".join(sentence.split()) in " ".join(body.split())
    assert result.timings["total"] > 0
    json.dumps(result.to_dict())


async def test_async_query_matches_sync(pipeline, fixture_documents):
    pipeline.ingest(fixture_documents)
    sync = pipeline.query("What do k1 and b control in BM25?", top_k=3)
    result = await pipeline.aquery("What do k1 and b control in BM25?", top_k=3)
    assert [s.node_id for s in result.sources] == [s.node_id for s in sync.sources]
    assert result.answer == sync.answer


def test_second_ingest_skips_unchanged_and_replaces_changed(pipeline, fixture_documents):
    pipeline.ingest(fixture_documents)
    before = _points(pipeline)
    again = pipeline.ingest(fixture_documents)
    assert (again.added, again.updated, again.unchanged, again.nodes_written) == (
        0,
        0,
        len(fixture_documents),
        0,
    )
    changed = [
        Document(text=d.text + " Extra sentence about ovens.", id_=d.id_, metadata=d.metadata)
        if d.id_ == "cooking"
        else d
        for d in fixture_documents
    ]
    third = pipeline.ingest(changed)
    assert (third.updated, third.unchanged) == (1, len(fixture_documents) - 1)
    assert _points(pipeline) == before  # replaced, not duplicated


def test_prune_removes_documents_no_longer_present(pipeline, fixture_documents):
    pipeline.ingest(fixture_documents)
    report = pipeline.ingest(fixture_documents[1:], prune=True)
    assert report.deleted == 1
    assert fixture_documents[0].id_ not in pipeline.indexed_documents()
    hits = pipeline.query("vector database written in Rust", top_k=5).sources
    assert all(s.ref_doc_id != fixture_documents[0].id_ for s in hits)


def test_interrupted_ingestion_is_completed_without_duplicates(
    tmp_path: Path, embed_model, fixture_documents
):
    config = PipelineConfig(data_dir=tmp_path / "rag", collection="t", ingest_batch_size=2)
    with RagPipeline(config) as clean:
        clean.ingest(fixture_documents)
        expected = _points(clean)

    config2 = PipelineConfig(data_dir=tmp_path / "rag2", collection="t", ingest_batch_size=2)
    pipe = RagPipeline(config2)

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipe.ingest(fixture_documents, on_batch=interrupt)
    done = pipe.indexed_documents()
    assert 0 < len(done) < len(fixture_documents)  # does not read as complete
    pipe.close()

    with RagPipeline(config2) as resumed:
        report = resumed.ingest(fixture_documents)
        assert report.unchanged == len(done)
        assert report.added == len(fixture_documents) - len(done)
        assert _points(resumed) == expected


def test_filters_restrict_sources(pipeline, fixture_documents):
    pipeline.ingest(fixture_documents)
    filters = MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
    result = pipeline.query("vector database", top_k=3, filters=filters)
    assert result.sources
    assert {s.ref_doc_id for s in result.sources} == {"cooking"}


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_rejected(pipeline, question):
    with pytest.raises(ValueError, match="question"):
        pipeline.query(question)


@pytest.mark.parametrize("top_k", [0, -1, 10**6])
def test_bad_top_k_is_rejected(pipeline, top_k):
    with pytest.raises(ValueError, match="top_k"):
        pipeline.query("anything", top_k=top_k)


def test_duplicate_document_ids_are_rejected(pipeline):
    docs = [Document(text="a", id_="x"), Document(text="b", id_="x")]
    with pytest.raises(ValueError, match="duplicate document id 'x'"):
        pipeline.ingest(docs)


def test_empty_documents_are_skipped_and_counted(pipeline, fixture_documents):
    report = pipeline.ingest([*fixture_documents, Document(text="  \n", id_="blank")])
    assert report.skipped_empty == 1
    assert "blank" not in pipeline.indexed_documents()


def test_changed_chunking_settings_rebuild_the_index(
    tmp_path: Path, embed_model, fixture_documents
):
    config = PipelineConfig(
        data_dir=tmp_path / "rag", collection="t", chunk_size=24, chunk_overlap=4
    )
    with RagPipeline(config) as first:
        first.ingest(fixture_documents)
        small_chunks = _points(first)
    wider = config.model_copy(update={"chunk_size": None, "chunk_overlap": 32})
    with RagPipeline(wider) as second:
        report = second.ingest(fixture_documents)
        assert report.rebuilt and report.added == len(fixture_documents)
        assert _points(second) < small_chunks  # old chunks gone, not mixed in
        hits = second.query("What do k1 and b control in BM25?", top_k=3).sources
        assert hits[0].ref_doc_id == "bm25"


def test_a_document_emptied_loses_its_chunks(pipeline, fixture_documents):
    pipeline.ingest(fixture_documents)
    emptied = [Document(text="", id_=d.id_) if d.id_ == "cooking" else d for d in fixture_documents]
    report = pipeline.ingest(emptied)
    assert (report.skipped_empty, report.deleted) == (1, 1)
    assert "cooking" not in pipeline.indexed_documents()
    hits = pipeline.query("How long does bread dough rise?", top_k=5).sources
    assert all(s.ref_doc_id != "cooking" for s in hits)


def test_default_depths_keep_the_ranking_of_the_old_candidates_setting(pipeline):
    retriever = pipeline.components.retriever
    assert isinstance(retriever, HybridRetriever)
    assert (retriever.bm25_candidates, retriever.vector_candidates) == (100, 100)
    assert retriever.similarity_top_k == 30
    # The hybrid's own default (issue 15): z-score fusion with the feedback pass.
    assert retriever.fusion_method == "zscore"
    assert retriever.feedback == PseudoRelevanceFeedback()


def test_feedback_can_be_switched_off(tmp_path: Path, embed_model, fixture_documents):
    config = PipelineConfig(data_dir=tmp_path / "nofb", collection="t", feedback=False)
    with RagPipeline(config) as pipe:
        pipe.ingest(fixture_documents)
        retriever = pipe.components.retriever
        assert isinstance(retriever, HybridRetriever) and retriever.feedback is None
        assert pipe.query("What is BM25?").sources


@pytest.fixture()
def reranking(tmp_path: Path, embed_model, tiny_cross_encoder_path: Path, fixture_documents):
    config = PipelineConfig(
        data_dir=tmp_path / "rag",
        collection="t",
        rerank_model=str(tiny_cross_encoder_path),
        top_k=2,
        fused_candidates=3,
    )
    with RagPipeline(config) as pipe:
        pipe.ingest(fixture_documents)
        yield pipe


def test_a_larger_top_k_gets_that_many_reranked_sources(reranking, fixture_documents):
    assert reranking.components.postprocessors, reranking.components.rerank_status
    assert len(reranking.query("What is BM25?").sources) == 2  # config.top_k
    # 4 is above config.top_k (2) and above the usual retrieval depth (3).
    wide = reranking.query("What is BM25?", top_k=4).sources
    assert len(wide) == 4
    assert all("rerank" in s.scores for s in wide)
    rerank_scores = [s.scores["rerank"]["score"] for s in wide]
    assert rerank_scores == sorted(rerank_scores, reverse=True)


async def test_a_larger_top_k_is_honoured_by_the_async_path(reranking):
    result = await reranking.aquery("What is BM25?", top_k=4)
    assert len(result.sources) == 4 and all("rerank" in s.scores for s in result.sources)


@pytest.mark.parametrize(
    ("retriever", "fusion"),
    [("hybrid", "client"), ("hybrid", "qdrant"), ("vector", "client"), ("bm25", "client")],
)
def test_a_larger_top_k_without_reranking(
    tmp_path: Path, embed_model, fixture_documents, retriever: str, fusion: str
):
    config = PipelineConfig(
        data_dir=tmp_path / "rag",
        collection="t",
        retriever=retriever,
        fusion=fusion,
        rerank=False,
        top_k=2,
        fused_candidates=3,
    )
    # Every fixture document shares a term with the question, so BM25 alone can find 5.
    question = "BM25, Qdrant, bread, the with statement or a cross-encoder?"
    with RagPipeline(config) as pipe:
        pipe.ingest(fixture_documents)
        assert len(pipe.query(question).sources) == 2
        assert len(pipe.query(question, top_k=5).sources) == 5


def test_bool_top_k_is_refused(pipeline):
    with pytest.raises(ValueError, match="top_k"):
        pipeline.query("anything", top_k=True)


def test_index_stats_and_write_listeners_survive_a_rebuild(pipeline, fixture_documents):
    events: list[WriteEvent] = []
    assert pipeline.index_stats() == IndexStats()  # nothing built yet
    pipeline.add_write_listener(events.append)
    pipeline.ingest(fixture_documents[:2])
    stats = pipeline.index_stats()
    assert stats.bm25_documents == _points(pipeline) and (stats.bm25_terms or 0) > 10
    pipeline.close()
    pipeline.ingest(fixture_documents[2:])  # a new store, the same listener
    assert {e.kind for e in events} >= {"add"}
    assert sum(len(e.node_ids or e.nodes) for e in events if e.kind == "add") == _points(pipeline)
