"""The follow-up rule, the prompts and the citations of a chat turn (no models, no I/O)."""

from __future__ import annotations

import pytest

from ragdrop.pipeline.chat_prompts import (
    answer_prompt,
    citations,
    condense_question,
    content_words,
    is_follow_up,
)
from ragdrop.pipeline.results import Source

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "message",
    [
        "and what language is it written in?",
        "What about its licence?",
        "how fast?",
        "why?",
        "Is that open source?",
        "also the replication?",
    ],
)
def test_follow_ups_get_the_earlier_topic(message: str) -> None:
    condensed = condense_question(message, ["tell me about Qdrant", "How does Qdrant shard?"])
    assert condensed.startswith(message)
    assert condensed.endswith(" Qdrant shard")  # newest turn first, each term once


@pytest.mark.parametrize(
    "message",
    [
        "What is BM25?",
        "How do I bake bread with rye flour at home?",
        "Compare Redis and Memcached",
    ],
)
def test_questions_with_their_own_topic_stand_alone(message: str) -> None:
    assert not is_follow_up(message)
    assert condense_question(message, ["tell me about Qdrant"]) == message


def test_the_first_turn_is_unchanged() -> None:
    assert condense_question("  and why?  ", []) == "and why?"


def test_terms_are_bounded_and_not_repeated() -> None:
    earlier = [" ".join(f"term{i}x" for i in range(20))]
    condensed = condense_question("and it?", earlier)
    assert condensed.split()[2:] == [f"term{i}x" for i in range(8)]
    assert condense_question("is Qdrant it?", ["tell me about qdrant"]) == "is Qdrant it?"


def test_content_words_drop_function_words_once() -> None:
    assert content_words("Tell me about the HNSW index of the hnsw graph") == [
        "HNSW",
        "index",
        "graph",
    ]


def test_the_prompt_numbers_passages_and_carries_the_history() -> None:
    sources = [
        Source("n1", "qdrant", 1.0, "Qdrant is written in Rust.", {}, {}),
        Source("n2", "redis", 0.5, " Redis is written in C. ", {}, {}),
    ]
    turns = [{"message": "tell me about Qdrant", "answer": "A vector database [1]."}]
    prompt = answer_prompt("What is Qdrant written in?", sources, turns)
    assert "[1] Qdrant is written in Rust.\n\n[2] Redis is written in C." in prompt
    assert "Human: tell me about Qdrant\nAssistant: A vector database [1]." in prompt
    assert prompt.rstrip().endswith("Question: What is Qdrant written in?\nAnswer:")
    assert "Conversation so far" not in answer_prompt("q", sources, [])


def test_citations_map_back_to_sources_in_range() -> None:
    assert citations("Rust [2] and C [1]; again [2], bogus [0] [3] [12]", 2) == [2, 1]
    assert citations("no citation", 5) == []
