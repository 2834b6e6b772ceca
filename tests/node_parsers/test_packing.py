"""Atoms and greedy packing: budget, overlap, back-off to sentence ends, mid-word cuts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragdrop.node_parsers.packing import CLAUSE, SENTENCE, WORD, Atoms, atomize, pack_atoms
from ragdrop.node_parsers.sentences import split_sentences
from ragdrop.node_parsers.token_counter import CharacterCounter

pytestmark = pytest.mark.unit


def make_atoms(costs: list[int], strengths: list[int] | None = None) -> Atoms:
    starts = [10 * i for i in range(len(costs))]
    return Atoms(starts, [s + 5 for s in starts], costs, strengths or [SENTENCE] * len(costs))


def test_pack_fills_up_to_the_budget() -> None:
    assert pack_atoms(make_atoms([3, 3, 3, 3, 3]), budget=7, overlap=0) == [(0, 1), (2, 3), (4, 4)]


def test_pack_overlap_repeats_trailing_atoms_within_overlap() -> None:
    atoms = make_atoms([2, 2, 2, 2, 2, 2])
    assert pack_atoms(atoms, budget=6, overlap=2) == [(0, 2), (2, 4), (4, 5)]
    assert pack_atoms(atoms, budget=6, overlap=4) == [(0, 2), (1, 3), (2, 4), (3, 5)]


def test_pack_backs_off_to_the_last_sentence_end() -> None:
    # Sentence (4) then a long sentence cut into words: stop after the sentence.
    atoms = make_atoms([4, 1, 1, 1, 1, 1], [SENTENCE, WORD, WORD, WORD, WORD, SENTENCE])
    assert pack_atoms(atoms, budget=6, overlap=0) == [(0, 0), (1, 5)]
    # Not when the chunk would keep less than half the budget.
    atoms = make_atoms([2, 1, 1, 1, 1, 1, 1, 1], [SENTENCE] + [WORD] * 6 + [SENTENCE])
    assert pack_atoms(atoms, budget=6, overlap=0)[0] == (0, 4)


def test_pack_prefers_clause_over_word() -> None:
    atoms = make_atoms([2, 2, 1, 1, 1], [WORD, CLAUSE, WORD, WORD, SENTENCE])
    assert pack_atoms(atoms, budget=6, overlap=0)[0] == (0, 1)


def test_pack_counts_gaps() -> None:
    atoms = make_atoms([5, 5, 5])  # spans 0-5, 10-15, 20-25: gaps of 5 characters
    assert pack_atoms(atoms, budget=15, overlap=0, gaps=[0, 5, 5]) == [(0, 1), (2, 2)]


def test_atomize_splits_long_sentences_down_to_characters() -> None:
    text = "Short one. Word, " + "word, " * 4 + "end. " + "x" * 23
    spans = split_sentences(text)
    counter = CharacterCounter()
    atoms = atomize(text, spans, counter.count_many([text[s:e] for s, e in spans]), 10, counter)
    pieces = [text[s:e] for s, e in zip(atoms.starts, atoms.ends, strict=True)]
    assert pieces[0] == "Short one."
    assert pieces[1:7] == ["Word,"] + ["word,"] * 4 + ["end."]
    assert pieces[7:] == ["x" * 10, "x" * 10, "x" * 3]
    assert all(c <= 10 for c in atoms.costs)
    assert atoms.strengths[:2] == [SENTENCE, CLAUSE] and atoms.strengths[-1] == SENTENCE


@given(
    st.lists(st.integers(0, 10), min_size=1, max_size=40), st.integers(10, 30), st.integers(0, 9)
)
def test_pack_invariants(costs: list[int], budget: int, overlap: int) -> None:
    atoms = make_atoms(costs)
    chunks = pack_atoms(atoms, budget, overlap)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(costs) - 1
    for (a, b), (c, d) in zip(chunks, chunks[1:], strict=False):
        assert a < c <= b + 1 and b < d
        assert sum(costs[c : b + 1]) <= overlap or c == b + 1
    for a, b in chunks:
        assert sum(costs[a : b + 1]) <= budget
