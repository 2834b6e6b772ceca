"""SemanticNodeParser with the real all-MiniLM-L6-v2: breakpoints, budgets, batching, async."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.schema import MetadataMode
from pydantic import PrivateAttr

from ragdrop.node_parsers import BreakpointRule, SemanticNodeParser

pytestmark = pytest.mark.integration

CATS = [
    "Cats are small domestic felines that purr when they are content.",
    "A kitten sleeps for most of the day and plays with yarn.",
    "House cats groom their fur with their rough tongues.",
    "Many cats enjoy chasing mice and climbing on furniture.",
]
MARKETS = [
    "The stock market fell sharply after the central bank raised interest rates.",
    "Bond yields climbed as investors sold government debt.",
    "Shares of technology companies lost value during the trading session.",
    "Analysts expect inflation to slow down in the next quarter.",
]


class RecordingEmbedding(BaseEmbedding):
    """The real MiniLM behind a thin layer that records every batch it is asked to embed."""

    _inner: Any = PrivateAttr()
    _batches: list[list[str]] = PrivateAttr(default_factory=list)

    def __init__(self, inner: Any, **kwargs: Any) -> None:
        super().__init__(embed_batch_size=inner.embed_batch_size, **kwargs)
        self._inner = inner

    @property
    def batches(self) -> list[list[str]]:
        return self._batches

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._inner.get_query_embedding(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._inner.aget_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        self._batches.append(list(texts))
        return self._inner._get_text_embeddings(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        self._batches.append(list(texts))
        return await self._inner._aget_text_embeddings(texts)


def count(embed_model: Any, text: str) -> int:
    return embed_model.count_tokens(text)


def check_nodes(doc_text: str, nodes: list[Any], embed_model: Any, budget: int) -> None:
    covered: set[int] = set()
    for node in nodes:
        assert doc_text[node.start_char_idx : node.end_char_idx] == node.text
        assert count(embed_model, node.get_content(MetadataMode.EMBED)) <= budget
        covered.update(range(node.start_char_idx, node.end_char_idx))
    assert {i for i, ch in enumerate(doc_text) if not ch.isspace()} <= covered
    for prev, nxt in zip(nodes, nodes[1:], strict=False):
        assert prev.end_char_idx <= nxt.start_char_idx  # no overlap in semantic chunks


def test_breaks_where_the_topic_changes(embed_model: Any) -> None:
    text = " ".join(CATS + MARKETS)
    parser = SemanticNodeParser(embed_model=embed_model, buffer_size=0, min_chunk_tokens=0)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    assert [n.text for n in nodes] == [" ".join(CATS), " ".join(MARKETS)]


@pytest.mark.parametrize(
    ("rule", "amount"),
    [
        (BreakpointRule.PERCENTILE, 95),
        (BreakpointRule.THRESHOLD, 0.3),
        (BreakpointRule.STDDEV, 1.5),
        (BreakpointRule.GRADIENT, 90),
    ],
)
def test_every_rule_finds_the_topic_change(
    embed_model: Any, rule: BreakpointRule, amount: float
) -> None:
    text = " ".join(CATS + MARKETS)
    parser = SemanticNodeParser(
        embed_model=embed_model,
        breakpoint_rule=rule,
        breakpoint_amount=amount,
        buffer_size=0,
        min_chunk_tokens=0,
    )
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    boundary = len(" ".join(CATS))
    ends = {n.end_char_idx for n in nodes}
    if rule is BreakpointRule.GRADIENT:
        # The gradient peaks one sentence before the jump it announces.
        boundary = len(" ".join(CATS[:-1]))
        assert boundary in ends or len(" ".join(CATS)) in ends
    else:
        assert boundary in ends
    check_nodes(text, nodes, embed_model, embed_model.max_seq_length - 2)


def test_threshold_everywhere_then_min_chunk_merges(embed_model: Any) -> None:
    text = " ".join(CATS + MARKETS)
    apart = SemanticNodeParser(
        embed_model=embed_model,
        breakpoint_rule="threshold",
        breakpoint_amount=1.0,
        min_chunk_tokens=0,
    )
    assert len(apart.get_nodes_from_documents([Document(text=text)])) == len(CATS + MARKETS)
    merged = SemanticNodeParser(
        embed_model=embed_model,
        breakpoint_rule="threshold",
        breakpoint_amount=1.0,
        min_chunk_tokens=40,
    )
    nodes = merged.get_nodes_from_documents([Document(text=text)])
    assert 1 < len(nodes) < len(CATS + MARKETS)
    assert all(count(embed_model, n.text) >= 40 for n in nodes)


def test_pieces_over_budget_are_cut_by_size(embed_model: Any, python_docs: str) -> None:
    text = python_docs[:4000]
    parser = SemanticNodeParser(embed_model=embed_model, chunk_size=48)
    doc = Document(text=text, id_="py", metadata={"title": "Python reference"})
    nodes = parser.get_nodes_from_documents([doc])
    check_nodes(text, nodes, embed_model, 48)
    assert max(count(embed_model, n.get_content(MetadataMode.EMBED)) for n in nodes) > 40


def test_default_budget_is_the_model_window(embed_model: Any, python_docs: str) -> None:
    text = python_docs[:8000]
    parser = SemanticNodeParser(embed_model=embed_model)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="py")])
    with_specials = [
        len(embed_model.tokenizer(n.get_content(MetadataMode.EMBED))["input_ids"]) for n in nodes
    ]
    assert max(with_specials) <= embed_model.max_seq_length
    check_nodes(text, nodes, embed_model, embed_model.max_seq_length - 2)


def test_each_sentence_embedded_once_across_documents_most_tokens_first(embed_model: Any) -> None:
    recorder = RecordingEmbedding(embed_model)
    tokenizer = embed_model.tokenizer
    docs = [
        Document(text=" ".join(CATS + CATS), id_="a"),  # every sentence twice
        Document(text=" ".join(MARKETS + CATS[:1]), id_="b"),
        Document(text="Only one sentence here.", id_="c"),
        Document(text="   ", id_="empty"),
    ]
    parser = SemanticNodeParser(embed_model=recorder, tokenizer=tokenizer, chunk_size=254)
    nodes = parser.get_nodes_from_documents(docs)
    embedded = [t for batch in recorder.batches for t in batch]
    assert sorted(embedded) == sorted(set(CATS + MARKETS))
    sizes = [embed_model.count_tokens(t) for t in embedded]
    assert sizes == sorted(sizes, reverse=True)  # most tokens first: batches barely pad
    assert {n.ref_doc_id for n in nodes} == {"a", "b", "c"}
    assert parser.last_stats.skipped_empty == 1
    for doc in docs[:3]:
        check_nodes(doc.text, [n for n in nodes if n.ref_doc_id == doc.id_], embed_model, 254)


async def test_async_uses_the_async_batch_and_matches_sync(embed_model: Any) -> None:
    recorder = RecordingEmbedding(embed_model)
    parser = SemanticNodeParser(
        embed_model=recorder, tokenizer=embed_model.tokenizer, buffer_size=0, min_chunk_tokens=0
    )
    docs = [Document(text=" ".join(CATS + MARKETS), id_="d")]
    sync = parser.get_nodes_from_documents(docs)
    result = await parser.aget_nodes_from_documents(docs)
    assert [(n.node_id, n.text) for n in result] == [(n.node_id, n.text) for n in sync]
    assert len(recorder.batches) == 2


def test_model_without_tokenizer_needs_another_unit(embed_model: Any) -> None:
    recorder = RecordingEmbedding(embed_model)  # exposes no .tokenizer
    parser = SemanticNodeParser(embed_model=recorder)
    with pytest.raises(ValueError, match="size_unit='tokens' needs a tokenizer"):
        parser.get_nodes_from_documents([Document(text=" ".join(CATS))])
    by_chars = SemanticNodeParser(embed_model=recorder, size_unit="characters", chunk_size=120)
    nodes = by_chars.get_nodes_from_documents([Document(text=" ".join(CATS + MARKETS))])
    assert nodes and all(len(n.text) <= 120 for n in nodes)


def test_builds_a_vector_index(embed_model: Any) -> None:
    parser = SemanticNodeParser(embed_model=embed_model)
    docs = [Document(text=" ".join(CATS + MARKETS), id_="d")]
    index = VectorStoreIndex.from_documents(docs, transformations=[parser], embed_model=embed_model)
    hits = index.as_retriever(similarity_top_k=1).retrieve("Why do cats purr?")
    assert "purr" in hits[0].node.get_content()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"breakpoint_rule": "median"},
            r"breakpoint_rule must be one of \['percentile', 'threshold', 'stddev', 'gradient'\]",
        ),
        ({"breakpoint_rule": "percentile", "breakpoint_amount": 120}, "breakpoint_amount"),
        ({"breakpoint_rule": "threshold", "breakpoint_amount": 2}, "breakpoint_amount"),
        ({"buffer_size": -1}, "buffer_size"),
        ({"min_chunk_tokens": -1}, "min_chunk_tokens"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SemanticNodeParser(**kwargs)


SENTENCES = st.sampled_from(CATS + MARKETS + ["Short.", "Yes!", "x" * 30 + ".", "3.14 is pi."])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(SENTENCES, min_size=1, max_size=14),
    st.sampled_from(list(BreakpointRule)),
    st.integers(12, 60),
    st.integers(0, 30),
)
def test_semantic_invariants(
    embed_model: Any, picks: list[str], rule: BreakpointRule, size: int, min_tokens: int
) -> None:
    text = " ".join(picks)
    parser = SemanticNodeParser(
        embed_model=embed_model, breakpoint_rule=rule, chunk_size=size, min_chunk_tokens=min_tokens
    )
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d", metadata={"t": 1})])
    check_nodes(text, nodes, embed_model, size)
