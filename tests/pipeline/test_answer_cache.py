"""RagPipeline keeps whole extractive answers under the store's write epoch (issue 16, item 6).

Real parts: Qdrant Edge under a data dir, the real MiniLM model, the real diskcache folder,
and a second real process for a write made elsewhere.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from ragdrop.observability import stages
from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.answer_cache import CACHE_LABEL, answer_from_json, answer_to_json
from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.calls import client_scope

pytestmark = pytest.mark.integration

QUESTION = "How do you bake bread with yeast?"


@pytest.fixture()
def answer_events() -> Iterator[list[str]]:
    """``hit``/``miss`` of every answer-cache lookup, in order."""
    seen: list[str] = []

    def listen(kind: str, name: str, value: float, label: str) -> None:
        if kind == "count" and label == CACHE_LABEL:
            seen.append(name.removeprefix("cache_"))

    stages.add_measure_listener(listen)
    yield seen
    stages.remove_measure_listener(listen)


@pytest.fixture()
def pipeline(tmp_path: Path, fixture_documents: list[Document]) -> Iterator[RagPipeline]:
    config = PipelineConfig(data_dir=tmp_path / "rag", collection="t", rerank=False)
    with RagPipeline(config) as rag:
        rag.ingest(fixture_documents)
        yield rag


def sources(answer: Any) -> list[tuple[str, float, str]]:
    return [(s.node_id, s.score, s.text) for s in answer.sources]


def test_a_repeated_question_is_answered_from_cache(
    pipeline: RagPipeline, answer_events: list[str]
) -> None:
    first = pipeline.query(QUESTION, top_k=3)
    second = pipeline.query(QUESTION, top_k=3)
    assert answer_events == ["miss", "hit"]
    assert set(second.timings) == {"cache", "total"} and "retrieve" in first.timings
    assert second.answer == first.answer and sources(second) == sources(first)
    assert second.mode == first.mode == "extractive"
    assert [s.metadata for s in second.sources] == [s.metadata for s in first.sources]


def test_callers_cannot_change_what_the_next_hit_returns(pipeline: RagPipeline) -> None:
    pipeline.query(QUESTION, top_k=3)
    hit = pipeline.query(QUESTION, top_k=3)
    expected = [(s.metadata.copy(), dict(s.scores)) for s in hit.sources]
    for source in hit.sources:
        source.metadata["planted"] = True
        source.scores.clear()
    hit.sources.pop()
    again = pipeline.query(QUESTION, top_k=3)
    assert [(s.metadata, s.scores) for s in again.sources] == expected


def test_a_write_makes_the_next_ask_a_miss(pipeline: RagPipeline, answer_events: list[str]) -> None:
    first = pipeline.query(QUESTION, top_k=3)
    pipeline.ingest(
        [
            Document(
                text="Sourdough bread is baked from a starter of wild yeast instead of dry yeast.",
                id_="sourdough",
            )
        ]
    )
    after = pipeline.query(QUESTION, top_k=3)
    assert answer_events == ["miss", "miss"]
    assert "sourdough" in [s.ref_doc_id for s in after.sources]
    assert sources(after) != sources(first)
    pipeline.delete_document("sourdough")
    gone = pipeline.query(QUESTION, top_k=3)
    assert answer_events[-1] == "miss"
    assert "sourdough" not in [s.ref_doc_id for s in gone.sources]


def test_a_write_by_another_process_makes_the_next_ask_a_miss(
    pipeline: RagPipeline, tmp_path: Path, answer_events: list[str]
) -> None:
    pipeline.query(QUESTION, top_k=3)
    pipeline.query(QUESTION, top_k=3)
    store = pipeline.components.vector_store
    assert isinstance(store, CachedQdrantVectorStore) and store.cache_dir is not None
    scope = store.cache_scope or client_scope(store.client)[0]
    script = (
        "import sys\n"
        "from ragdrop.cache import QueryResultCache, SafeCache\n"
        "QueryResultCache(SafeCache(sys.argv[1], namespace='queries')).bump(sys.argv[2], 't')\n"
    )
    subprocess.run([sys.executable, "-c", script, store.cache_dir, scope], check=True, timeout=120)
    pipeline.query(QUESTION, top_k=3)
    assert answer_events == ["miss", "hit", "miss"]
    pipeline.query(QUESTION, top_k=3)
    assert answer_events[-1] == "hit"


def test_every_input_of_the_answer_is_in_the_key(
    pipeline: RagPipeline, answer_events: list[str]
) -> None:
    pipeline.query(QUESTION, top_k=3)
    pipeline.query(QUESTION, top_k=2)
    pipeline.query(QUESTION + " ", top_k=3)
    topic = MetadataFilters(filters=[MetadataFilter(key="topic", value="cooking")])
    filtered = pipeline.query(QUESTION, top_k=3, filters=topic)
    assert answer_events == ["miss", "miss", "miss", "miss"]
    assert pipeline.query(QUESTION, top_k=3, filters=topic).answer == filtered.answer
    assert answer_events[-1] == "hit"


def test_async_and_sync_share_the_cache(pipeline: RagPipeline, answer_events: list[str]) -> None:
    first = pipeline.query(QUESTION, top_k=3)
    second = asyncio.run(pipeline.aquery(QUESTION, top_k=3))
    assert answer_events == ["miss", "hit"]
    assert sources(second) == sources(first) and second.answer == first.answer


def test_no_cache_no_answer_cache(
    tmp_path: Path, fixture_documents: list[Document], answer_events: list[str]
) -> None:
    config = PipelineConfig(data_dir=tmp_path / "rag", collection="t", rerank=False, cache=False)
    with RagPipeline(config) as rag:
        rag.ingest(fixture_documents)
        rag.query(QUESTION, top_k=3)
        again = rag.query(QUESTION, top_k=3)
    assert answer_events == [] and "cache" not in again.timings


def test_stored_answers_are_json_and_anything_else_is_a_miss(pipeline: RagPipeline) -> None:
    answer = pipeline.query(QUESTION, top_k=3)
    data = answer_to_json(answer)
    assert "timings" not in data
    read = answer_from_json(data)
    assert read is not None and sources(read) == sources(answer)
    broken: list[object] = [
        None,
        [],
        {**data, "version": 99},
        {**data, "answer": 3},
        {**data, "sources": [{"node_id": "x"}]},
        {**data, "sources": [{**data["sources"][0], "score": True}]},  # type: ignore[index]
    ]
    assert [answer_from_json(value) for value in broken] == [None] * len(broken)
