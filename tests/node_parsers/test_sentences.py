"""Sentence, clause and word spans: exact, trimmed, in order, covering every visible character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.node_parsers.sentences import (
    sanitize_text,
    split_clauses,
    split_sentences,
    split_words,
)

pytestmark = pytest.mark.unit


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith paid 3.50 dollars. He left.", ["Dr. Smith paid 3.50 dollars.", "He left."]),
        ("Use e.g. a list. Or not.", ["Use e.g. a list.", "Or not."]),
        ("J. R. R. Tolkien wrote it. Fine.", ["J. R. R. Tolkien wrote it.", "Fine."]),
        (
            "See https://docs.python.org/3.11/x.html. Next one!",
            ["See https://docs.python.org/3.11/x.html.", "Next one!"],
        ),
        ('He said "Stop." Then he went?  Yes.', ['He said "Stop."', "Then he went?", "Yes."]),
        ("Wait... what happened. Nothing.", ["Wait... what happened.", "Nothing."]),
        ("这是第一句。这是第二句！对吗？", ["这是第一句。", "这是第二句！", "对吗？"]),
        ("¿Qué tal? ¡Muy bien! Gracias.", ["¿Qué tal?", "¡Muy bien!", "Gracias."]),
        ("यह पहला वाक्य है। यह दूसरा है।", ["यह पहला वाक्य है।", "यह दूसरा है।"]),
        ("Title\n\nBody text here", ["Title", "Body text here"]),
        ("Items:\n- one. two\n- three", ["Items:", "- one. two", "- three"]),
        ("Apples, pears etc. Then bananas.", ["Apples, pears etc.", "Then bananas."]),
        ("", []),
        ("   \n\t  ", []),
    ],
)
def test_sentence_cases(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_fenced_code_is_cut_only_at_blank_lines_and_fences() -> None:
    text = "Run this:\n```python\nx = 1. Y = 2\nprint(x)\n```\nDone. Bye."
    assert sentences(text) == [
        "Run this:",
        "```python\nx = 1. Y = 2\nprint(x)\n```",
        "Done.",
        "Bye.",
    ]


def test_repeated_sentences_keep_their_own_offsets() -> None:
    text = "Same. Same. Same."
    assert split_sentences(text) == [(0, 5), (6, 11), (12, 17)]


def test_sub_range_offsets_are_absolute() -> None:
    text = "Skip me. Keep one. Keep two."
    spans = split_sentences(text, 9, len(text))
    assert [text[s:e] for s, e in spans] == ["Keep one.", "Keep two."]


def test_clauses_and_words() -> None:
    text = "one, two; three: four\nfive (six) seven"
    clauses = [text[s:e] for s, e in split_clauses(text, 0, len(text))]
    assert clauses == ["one,", "two;", "three:", "four", "five (six)", "seven"]
    assert [text[s:e] for s, e in split_words(text, 5, 14)] == ["two;", "thre"]


def test_sanitize_replaces_one_for_one() -> None:
    text = "a\x00b\ud800c\udfffd"
    clean, replaced = sanitize_text(text)
    assert clean == "a\ufffdb\ufffdc\ufffdd"
    assert replaced == 3
    assert len(clean) == len(text)
    clean.encode("utf-8")  # would raise on a lone surrogate
    assert sanitize_text("plain") == ("plain", 0)


texts = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Mr.",
                "e.g.",
                "3.14",
                "end.",
                "Why?",
                "No!",
                "。",
                "\n\n",
                "\n- ",
                "```",
                "a",
                "B",
                ",",
            ]
        ),
        st.text(max_size=12),
    ),
    max_size=30,
).map(" ".join)


@given(texts)
def test_spans_cover_all_visible_text_in_order(text: str) -> None:
    for splitter in (
        lambda t: split_sentences(t),
        lambda t: split_clauses(t, 0, len(t)),
        lambda t: split_words(t, 0, len(t)),
    ):
        spans = splitter(text)
        covered = set()
        previous_end = 0
        for s, e in spans:
            assert previous_end <= s < e <= len(text)
            piece = text[s:e]
            assert piece == piece.strip() and piece
            covered.update(range(s, e))
            previous_end = e
        visible = {i for i, ch in enumerate(text) if not ch.isspace()}
        assert visible <= covered
