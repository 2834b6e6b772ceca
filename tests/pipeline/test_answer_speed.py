"""The extractive answer reads sentence vectors embedded at ingestion (issue 17, item 3).

Real parts only: the real all-MiniLM-L6-v2 (a subclass that records what reaches the model),
real on-disk Qdrant and embedding caches, CPython's pydoc topics as text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import Document
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import PrivateAttr

from ragdrop.cache import CachedEmbedding
from ragdrop.embeddings import SentenceTransformerEmbedding
from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.answer import answer_sentences, candidate_sentences
from ragdrop.pipeline.documents import load_pydoc_topics

pytestmark = pytest.mark.integration

TOPICS = {"pydoc:lambda", "pydoc:if", "pydoc:while", "pydoc:yield", "pydoc:nonlocal"}
QUESTIONS = (
    "How does the with statement close files?",
    "What does a lambda expression create?",
    "When does the else clause of a while loop run?",
    "What does the nonlocal statement do?",
)


class RecordingEmbedding(SentenceTransformerEmbedding):
    """The real model, recording every text it runs a forward pass on."""

    _encoded: list[str] = PrivateAttr(default_factory=list)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self._encoded.extend(texts)
        return super()._encode(texts)


@pytest.fixture(scope="module")
def documents(fixture_documents: list[Document]) -> list[Document]:
    pydoc = [d for d in load_pydoc_topics() if d.id_ in TOPICS]
    assert len(pydoc) == len(TOPICS)
    return [*fixture_documents, *pydoc]


def _recording(pipe: RagPipeline, loaded: SentenceTransformerEmbedding) -> RecordingEmbedding:
    """Put a recording model (sharing the loaded weights) behind the pipeline's cache."""
    cached = pipe.components.embed_model
    assert isinstance(cached, CachedEmbedding)
    recorder = RecordingEmbedding(model_name=loaded.model_name)
    recorder._model = loaded._load()
    cached.embed_model = recorder
    return recorder


def _answers(pipe: RagPipeline) -> list[str]:
    return [pipe.query(q, top_k=3).answer for q in QUESTIONS]


def test_answer_sentences_are_every_candidate(
    documents: list[Document], embed_model: SentenceTransformerEmbedding
) -> None:
    nodes = [TextNode(text=d.text, id_=d.id_) for d in documents]
    candidates = candidate_sentences([NodeWithScore(node=n) for n in nodes], len(nodes))
    warmed = answer_sentences(nodes)
    assert sorted(warmed) == sorted(c.text for c in candidates)
    assert [len(s) for s in warmed] == sorted(len(s) for s in warmed)  # shortest first
    by_tokens = answer_sentences(nodes, embed_model.tokenizer)
    assert sorted(by_tokens) == sorted(warmed)
    tokens = [embed_model.count_tokens(s) for s in by_tokens]
    assert tokens == sorted(tokens)


def test_warmed_answers_run_no_sentence_through_the_model(
    tmp_path: Path, documents: list[Document], embed_model: SentenceTransformerEmbedding
) -> None:
    def pipeline(name: str, cache: bool = True) -> RagPipeline:
        return RagPipeline(PipelineConfig(data_dir=tmp_path / name, rerank=False, cache=cache))

    with pipeline("cold") as cold:
        cold.ingest(documents, warm_answers=False)
        expected = _answers(cold)  # sentences embedded at question time, as before
    with pipeline("nocache", cache=False) as nocache:
        nocache.ingest(documents)
        assert _answers(nocache) == expected

    with pipeline("warm") as warm:
        warm.ingest(documents)
        recorder = _recording(warm, embed_model)
        assert _answers(warm) == expected
        assert set(recorder._encoded) <= set(QUESTIONS)  # the questions only, no sentence

        # A changed document is re-embedded with its new sentence warmed; a deleted one
        # stops answering, and the rest still answer from the cache.
        added = "The nonlocal statement never creates a new binding in the module namespace."
        changed = [
            Document(text=f"{d.text}\n\n{added}", id_=d.id_, metadata=d.metadata)
            if d.id_ == "pydoc:nonlocal"
            else d
            for d in documents
        ]
        assert warm.ingest(changed).updated == 1
        assert added in recorder._encoded  # embedded once, at ingestion
        warm.delete_document("python_with")
        recorder._encoded.clear()
        asked = (*QUESTIONS, "Does nonlocal create a binding in the module namespace?")
        results = [warm.query(q, top_k=3) for q in asked]
        assert set(recorder._encoded) <= set(asked)
        assert all("[1]" in r.answer for r in results)
        assert "python_with" not in {s.ref_doc_id for s in results[0].sources}
        assert added in results[-1].answer


def test_warm_answers_is_checked(tmp_path: Path) -> None:
    with RagPipeline(PipelineConfig(data_dir=tmp_path / "rag", rerank=False)) as pipe:
        with pytest.raises(TypeError, match="warm_answers"):
            pipe.ingest([], warm_answers="yes")  # type: ignore[arg-type]
