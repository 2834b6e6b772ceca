"""Fixtures of the reranker tests: candidate nodes and a reference scorer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

PASSAGES = [
    "BM25 ranks documents by term frequency and inverse document frequency.",
    "To bake bread, knead the dough and let it rise for an hour.",
    "Qdrant stores vectors with payloads and searches them with HNSW.",
    "BM25 ranks documents by term frequency and inverse document frequency.",
    "A cross-encoder reads the query and the passage together.",
    "The with statement calls __enter__ and __exit__ on a context manager.",
]


@pytest.fixture()
def candidates() -> list[NodeWithScore]:
    """Retrieved nodes with retrieval scores and fusion provenance; n0 and n3 share their text."""
    return [
        NodeWithScore(
            node=TextNode(
                text=text,
                id_=f"n{i}",
                metadata={"source": "fixture", "fusion": {"rank": i + 1, "sources": ["bm25"]}},
            ),
            score=1.0 - i / 10,
        )
        for i, text in enumerate(PASSAGES)
    ]


@pytest.fixture(scope="session")
def reference_logits(tiny_cross_encoder_path: Path) -> Callable[..., list[float]]:
    """Logits straight from transformers, truncating only the passage: the reference."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_cross_encoder_path))
    model = BertForSequenceClassification.from_pretrained(str(tiny_cross_encoder_path)).eval()

    def score(query: str, passages: list[str], max_length: int = 512) -> list[float]:
        out = []
        with torch.inference_mode():
            for passage in passages:
                features = tokenizer(
                    query,
                    passage,
                    truncation="only_second",
                    max_length=max_length,
                    return_tensors="pt",
                )
                out.append(float(model(**features).logits[0, 0]))
        return out

    return score
