"""FixedSizeNodeParser: exact offsets, coverage, budgets with metadata, overlap, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import MetadataMode, NodeRelationship, TextNode

from ragdrop.node_parsers import FixedSizeNodeParser, SizeUnit
from ragdrop.node_parsers.sentences import sanitize_text

pytestmark = pytest.mark.unit

WORDS = [
    "alpha",
    "Beta",
    "gamma.",
    "e.g.",
    "Dr.",
    "3.14",
    "https://example.com/a.b",
    "naïve",
    "日本語の文。",
    "Why?",
    "No!",
    "x",
    "(see",
    "below),",
    "a;b",
    "supercalifragilistic" * 4,
    "Привет.",
    "```",
    "-",
    "\u200b",
    "end.",
]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\t", ". ", ", "]


@st.composite
def documents(draw: Any) -> str:
    """Text with repeated sentences, long words, code fences and odd whitespace."""
    pool = draw(
        st.lists(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join),
            min_size=1,
            max_size=5,
        )
    )
    picks = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=25))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(picks), max_size=len(picks)))
    return "".join(p + s for p, s in zip(picks, seps, strict=True))


def count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def check_invariants(
    text: str, nodes: list[Any], measure: Any, budget: int, overlap: int, slack: int = 0
) -> None:
    clean, _ = sanitize_text(text)
    covered: set[int] = set()
    for node in nodes:
        assert clean[node.start_char_idx : node.end_char_idx] == node.text
        assert node.text.strip() == node.text and node.text
        assert measure(node.get_content(metadata_mode=MetadataMode.EMBED)) <= budget
        covered.update(range(node.start_char_idx, node.end_char_idx))
    assert {i for i, ch in enumerate(clean) if not ch.isspace()} <= covered
    for prev, nxt in zip(nodes, nodes[1:], strict=False):
        assert prev.start_char_idx < nxt.start_char_idx and prev.end_char_idx < nxt.end_char_idx
        if nxt.start_char_idx < prev.end_char_idx:
            assert overlap > 0
            assert measure(clean[nxt.start_char_idx : prev.end_char_idx]) <= overlap + slack


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents(),
    st.integers(16, 80),
    st.integers(0, 7),
    st.sampled_from([{}, {"title": "T"}, {"source": "a/b.txt", "page": 3}]),
)
def test_model_token_invariants(
    minilm_tokenizer: Any, text: str, size: int, overlap: int, metadata: dict[str, Any]
) -> None:
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=size, chunk_overlap=overlap)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="doc", metadata=metadata)])
    check_invariants(text, nodes, lambda t: count(minilm_tokenizer, t), size, overlap)


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300) | documents(), st.integers(5, 60), st.integers(0, 4))
def test_character_invariants_on_any_text(text: str, size: int, overlap: int) -> None:
    parser = FixedSizeNodeParser(size_unit="characters", chunk_size=size, chunk_overlap=overlap)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="doc")])
    check_invariants(text, nodes, len, size, overlap)
    if not text.strip():
        assert nodes == [] and parser.last_stats.skipped_empty == 1


@settings(max_examples=40, deadline=None)
@given(documents(), st.integers(8, 60), st.integers(0, 6))
def test_tiktoken_invariants(text: str, size: int, overlap: int) -> None:
    import tiktoken

    parser = FixedSizeNodeParser(
        size_unit=SizeUnit.TIKTOKEN, chunk_size=size, chunk_overlap=overlap
    )
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="doc", metadata={"k": "v"})])
    # Loaded (offline, from LlamaIndex's bundled cache) by the parser above.
    encoding = tiktoken.get_encoding("cl100k_base")
    # BPE is not additive ("naïve" is 3 tokens, " naïve" 2): the overlap is approximate.
    measure = lambda t: len(encoding.encode_ordinary(t))  # noqa: E731
    check_invariants(text, nodes, measure, size, overlap, slack=overlap + 2)


def test_repeated_text_gets_its_own_offsets(minilm_tokenizer: Any) -> None:
    text = "The same sentence again. " * 40
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=12, chunk_overlap=0)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    assert len(nodes) == 20
    assert [n.start_char_idx for n in nodes] == [50 * i for i in range(20)]
    assert len({n.node_id for n in nodes}) == 20


def test_cuts_at_sentence_ends_and_overlaps_in_tokens(minilm_tokenizer: Any) -> None:
    sentences = [f"Sentence number {i} has a few words." for i in range(30)]
    text = " ".join(sentences)
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=35, chunk_overlap=10)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    assert all(n.text.endswith("words.") and n.text.startswith("Sentence") for n in nodes)
    # Each sentence is 8 tokens: 4 per chunk, the last one repeated.
    assert all(count(minilm_tokenizer, s) == 8 for s in sentences)
    assert [n.text.count("Sentence") for n in nodes[:-1]] == [4] * (len(nodes) - 1)
    for prev, nxt in zip(nodes, nodes[1:], strict=False):
        assert prev.text.split("Sentence")[-1].strip() == nxt.text.split("Sentence")[1].strip()


def test_never_cuts_mid_word_unless_the_word_is_too_long(minilm_tokenizer: Any) -> None:
    long_word = "qwertyuiopasdfghjklzxcvbnm" * 3  # dozens of word pieces (BERT: < 100 chars)
    text = "plain words only " * 30 + long_word
    assert count(minilm_tokenizer, long_word) > 16
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=16, chunk_overlap=0)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    words = {"plain", "words", "only"}
    pieces = []
    for node in nodes:
        *head, last = node.text.split()
        assert set(head) <= words
        if last not in words:
            pieces.append(last)
    assert len(pieces) > 1 and "".join(pieces) == long_word


def test_metadata_counts_against_the_budget(minilm_tokenizer: Any) -> None:
    text = "word " * 200
    metadata = {"title": "a rather long title with many words in it", "skip": "x " * 50}
    doc = Document(text=text, id_="d", metadata=metadata, excluded_embed_metadata_keys=["skip"])
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=40)
    nodes = parser.get_nodes_from_documents([doc])
    header = count(minilm_tokenizer, "title: a rather long title with many words in it")
    assert all(count(minilm_tokenizer, n.text) <= 40 - header for n in nodes)
    assert max(count(minilm_tokenizer, n.get_content(MetadataMode.EMBED)) for n in nodes) == 40
    assert nodes[0].metadata == metadata and nodes[0].excluded_embed_metadata_keys == ["skip"]
    no_meta = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=40, include_metadata=False)
    assert no_meta.get_nodes_from_documents([doc])[0].metadata == {}


def test_metadata_larger_than_the_budget_is_an_error(minilm_tokenizer: Any) -> None:
    doc = Document(text="hello", id_="d", metadata={"summary": "long " * 100})
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=20)
    with pytest.raises(ValueError, match="excluded_embed_metadata_keys"):
        parser.get_nodes_from_documents([doc])


def test_relationships_ids_and_no_mutation(minilm_tokenizer: Any) -> None:
    doc = Document(text="One two three. Four five six. " * 10, id_="doc-1", metadata={"a": 1})
    before = doc.model_dump()
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=10)
    nodes = parser.get_nodes_from_documents([doc])
    again = parser.get_nodes_from_documents([doc])
    assert [n.node_id for n in nodes] == [n.node_id for n in again]
    assert doc.model_dump() == before
    for i, node in enumerate(nodes):
        assert node.ref_doc_id == "doc-1"
        assert node.relationships[NodeRelationship.SOURCE].node_id == "doc-1"
        if i:
            assert node.prev_node is not None and node.prev_node.node_id == nodes[i - 1].node_id
        if i < len(nodes) - 1:
            assert node.next_node is not None and node.next_node.node_id == nodes[i + 1].node_id
    other = parser.get_nodes_from_documents([Document(text=doc.text, id_="doc-2")])
    assert not {n.node_id for n in other} & {n.node_id for n in nodes}
    custom = FixedSizeNodeParser(
        tokenizer=minilm_tokenizer, chunk_size=10, id_func=lambda i, d: f"{d.node_id}#{i}"
    )
    assert custom.get_nodes_from_documents([doc])[1].node_id == "doc-1#1"


def test_prev_next_can_be_switched_off(minilm_tokenizer: Any) -> None:
    parser = FixedSizeNodeParser(
        tokenizer=minilm_tokenizer, chunk_size=5, include_prev_next_rel=False
    )
    nodes = parser.get_nodes_from_documents([Document(text="a b c d e f g h i j k l")])
    assert len(nodes) > 1 and all(n.prev_node is None and n.next_node is None for n in nodes)


def test_text_nodes_are_accepted_and_keep_their_source(minilm_tokenizer: Any) -> None:
    source = Document(text="ignored", id_="origin")
    node = TextNode(text="Alpha beta. Gamma delta. " * 5, id_="n1")
    node.relationships[NodeRelationship.SOURCE] = source.as_related_node_info()
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=8)
    nodes = parser.get_nodes_from_documents([node])
    assert nodes and all(n.ref_doc_id == "origin" for n in nodes)


def test_empty_documents_are_skipped_and_counted(minilm_tokenizer: Any) -> None:
    docs = [Document(text=""), Document(text="  \n\t "), Document(text="Real text.", id_="r")]
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=10)
    nodes = parser.get_nodes_from_documents(docs)
    assert [n.text for n in nodes] == ["Real text."]
    stats = parser.last_stats
    assert (stats.documents, stats.skipped_empty, stats.nodes) == (3, 2, 1)


def test_nul_and_lone_surrogates_are_replaced(minilm_tokenizer: Any) -> None:
    text = "Bad\x00byte here. Lone \ud83d surrogate there. Fine."
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=6)
    nodes = parser.get_nodes_from_documents([Document(text=text, id_="d")])
    joined = " ".join(n.text for n in nodes)
    assert "\x00" not in joined and "\ud83d" not in joined and joined.count("\ufffd") == 2
    for node in nodes:
        node.text.encode("utf-8")
        assert sanitize_text(text)[0][node.start_char_idx : node.end_char_idx] == node.text
    assert parser.last_stats.sanitized_characters == 2


async def test_async_matches_sync(minilm_tokenizer: Any) -> None:
    docs = [Document(text=f"Doc {i}. " + "Some words here. " * 30, id_=str(i)) for i in range(3)]
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=20, chunk_overlap=5)
    sync = parser.get_nodes_from_documents(docs)
    result = await parser.aget_nodes_from_documents(docs)
    assert [(n.node_id, n.text) for n in result] == [(n.node_id, n.text) for n in sync]
    assert not asyncio.iscoroutine(result)


def test_works_inside_an_ingestion_pipeline(minilm_tokenizer: Any) -> None:
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=12)
    docs = [Document(text="Pipelines run transformations. " * 8, id_="p")]
    nodes = IngestionPipeline(transformations=[parser]).run(documents=docs)
    assert nodes and all(n.start_char_idx is not None for n in nodes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_size": 10, "chunk_overlap": 10}, "chunk_overlap"),
        ({"chunk_size": 10, "chunk_overlap": 20}, "chunk_overlap"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": -5}, "chunk_size"),
        ({"chunk_overlap": -1}, "chunk_overlap"),
        ({"size_unit": "words", "chunk_size": 10}, "size_unit must be one of"),
        ({"size_unit": "characters"}, "chunk_size is required"),
        (
            {"size_unit": "tiktoken", "chunk_size": 10, "tiktoken_encoding": "nope"},
            "tiktoken_encoding",
        ),
    ],
)
def test_bad_settings_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parser = FixedSizeNodeParser(**kwargs)
        parser.get_nodes_from_documents([Document(text="Some text.")])


def test_unknown_size_unit_lists_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"\['tokens', 'characters', 'tiktoken'\]"):
        FixedSizeNodeParser(size_unit="words", chunk_size=10)


def test_metadata_glued_to_content_is_recounted(minilm_tokenizer: Any) -> None:
    doc = Document(
        text="ing" + " ingredient" * 60,
        id_="d",
        metadata={"k": "cook"},
        text_template="{metadata_str}{content}",  # "k: cook" + "ing..." -> "cooking"
    )
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=12)
    nodes = parser.get_nodes_from_documents([doc])
    assert all(count(minilm_tokenizer, n.get_content(MetadataMode.EMBED)) <= 12 for n in nodes)
    assert "".join(n.text.replace(" ", "") for n in nodes).count("ingredient") == 60


def test_changing_chunk_size_after_use_takes_effect(minilm_tokenizer: Any) -> None:
    parser = FixedSizeNodeParser(tokenizer=minilm_tokenizer, chunk_size=40)
    doc = Document(text="word " * 100, id_="d")
    assert len(parser.get_nodes_from_documents([doc])) == 3
    parser.chunk_size = 10
    assert len(parser.get_nodes_from_documents([doc])) == 10
