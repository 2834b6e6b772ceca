"""The pipeline end to end on a real on-disk Qdrant and the real MiniLM model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llama_index.core import Document
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from ragdrop.pipeline import PipelineConfig, RagPipeline

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
