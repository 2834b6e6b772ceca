"""Node parsers as LlamaIndex treats components: deep copies, to_dict/from_dict, pipelines."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.schema import BaseNode

from ragdrop.embeddings import SentenceTransformerEmbedding
from ragdrop.node_parsers import FixedSizeNodeParser, SemanticNodeParser

pytestmark = pytest.mark.integration

TEXT = (
    "Qdrant stores vectors with payloads. It searches them with HNSW. "
    "BM25 ranks documents by term frequency. Its parameters are k1 and b. "
    "Bread needs flour, water and yeast. The dough rises for an hour. "
) * 6


def _docs() -> list[Document]:
    return [Document(text=TEXT, id_="doc-1"), Document(text=TEXT[::-1], id_="doc-2")]


def _texts(nodes: list[BaseNode]) -> list[str]:
    return [n.get_content() for n in nodes]


@pytest.fixture(scope="module")
def parsers(embed_model: SentenceTransformerEmbedding) -> list[Any]:
    return [
        FixedSizeNodeParser(chunk_size=48, embed_model=embed_model),
        FixedSizeNodeParser(chunk_size=300, size_unit="characters"),
        SemanticNodeParser(embed_model=embed_model, max_chunk_tokens=64),
    ]


def test_a_deep_copy_chunks_like_the_original(parsers: list[Any]) -> None:
    for parser in parsers:
        expected = _texts(parser.get_nodes_from_documents(_docs()))
        twin = copy.deepcopy(parser)
        assert twin.to_dict() == parser.to_dict()
        assert _texts(twin.get_nodes_from_documents(_docs())) == expected
        # Settings are copied, not shared: changing the copy leaves the original alone.
        twin.include_prev_next_rel = not parser.include_prev_next_rel
        assert twin.include_prev_next_rel != parser.include_prev_next_rel


def test_a_copy_shares_the_loaded_model_not_the_lock(
    parsers: list[Any], embed_model: SentenceTransformerEmbedding
) -> None:
    parser = parsers[0]
    parser.get_nodes_from_documents(_docs())
    twin = copy.deepcopy(parser)
    assert twin.embed_model is not embed_model  # a copy of the embedding component...
    assert twin.embed_model.tokenizer is embed_model.tokenizer  # ...over the same model
    assert twin._lock is not parser._lock


def test_to_json_and_back_keeps_the_settings(parsers: list[Any]) -> None:
    for parser in parsers:
        data = json.loads(parser.to_json())
        assert data["class_name"] == parser.class_name()
        restored = type(parser).from_dict(data, embed_model=parser.embed_model)
        assert restored.to_dict() == parser.to_dict()
        assert _texts(restored.get_nodes_from_documents(_docs())) == _texts(
            parser.get_nodes_from_documents(_docs())
        )
        assert type(parser).from_json(parser.to_json()).to_dict() == parser.to_dict()


def test_a_custom_id_func_must_be_passed_again() -> None:
    def id_func(i: int, doc: BaseNode) -> str:
        return f"{doc.node_id}-{i}"

    parser = FixedSizeNodeParser(chunk_size=300, size_unit="characters", id_func=id_func)
    data = parser.to_dict()
    with pytest.raises(ValueError, match=r"from_dict\(data, id_func="):
        FixedSizeNodeParser.from_dict(data)
    restored = FixedSizeNodeParser.from_dict(data, id_func=id_func)
    assert [n.node_id for n in restored.get_nodes_from_documents(_docs())][:2] == [
        "doc-1-0",
        "doc-1-1",
    ]


@pytest.mark.parametrize("which", [0, 2], ids=["fixed", "semantic"])
def test_an_ingestion_pipeline_runs_twice_and_after_a_deep_copy(
    parsers: list[Any], embed_model: SentenceTransformerEmbedding, which: int
) -> None:
    pipeline = IngestionPipeline(
        transformations=[parsers[which], embed_model], cache=IngestionCache()
    )
    first = pipeline.run(documents=_docs())
    assert first and all(n.embedding for n in first)
    second = pipeline.run(documents=_docs())  # served from LlamaIndex's ingestion cache
    assert _texts(second) == _texts(first)
    assert [n.embedding for n in second] == [n.embedding for n in first]
    twin = copy.deepcopy(pipeline)
    third = twin.run(documents=_docs())
    assert _texts(third) == _texts(first)
    assert np.allclose([n.embedding for n in third], [n.embedding for n in first], atol=1e-5)
