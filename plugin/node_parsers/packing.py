"""Cutting text into budget-sized atoms and packing atoms greedily into chunks.

An *atom* is a span no larger than the budget: a sentence, or, for a sentence that is too
long, a clause, a word, or (for one over-long word) a run of whole tokens. Each atom
records how strong the boundary at its end is, so a full chunk can back off to the last
sentence end instead of stopping mid-sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragdrop.node_parsers.sentences import Span, spans_between, split_clauses, split_words
from ragdrop.node_parsers.token_counter import TokenCounter

SENTENCE, CLAUSE, WORD, MID_WORD = 3, 2, 1, 0
_SPLITTERS: tuple[tuple[int, Callable[[str, int, int], list[Span]]], ...] = (
    (CLAUSE, split_clauses),
    (WORD, split_words),
)


@dataclass
class Atoms:
    """Parallel lists describing the atoms of one text, in order."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    costs: list[int] = field(default_factory=list)
    strengths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)


def _split_mid_word(
    text: str, start: int, end: int, budget: int, counter: TokenCounter
) -> list[Span]:
    cuts = [start + c for c in counter.cut_points(text[start:end], budget)]
    return spans_between(text, cuts, start, end)


def atomize(
    text: str,
    spans: Sequence[Span],
    counts: Sequence[int],
    budget: int,
    counter: TokenCounter,
    with_gaps: bool = False,
) -> Atoms:
    """Split every span costing more than ``budget`` into clauses, then words, then tokens.

    Args:
        text: the source text.
        spans: sentence spans of ``text`` in order.
        counts: the size of each span, as measured by ``counter``.
        budget: the most units one atom may cost.
        counter: measures the new, smaller pieces (one batch call per level).
        with_gaps: measure each new piece together with the whitespace before it, for
            units such as BPE tokens where whitespace is not free.

    Raises:
        ValueError: when a single character costs more than ``budget``.
    """
    items = [(s, e, c, SENTENCE) for (s, e), c in zip(spans, counts, strict=True)]
    for level, splitter in (*_SPLITTERS, (MID_WORD, None)):
        if all(item[2] <= budget for item in items):
            break
        refined: list[tuple[int, int, int, int]] = []
        fresh: list[int] = []
        for s, e, c, strength in items:
            if c <= budget:
                refined.append((s, e, c, strength))
                continue
            if splitter is None:
                subs = _split_mid_word(text, s, e, budget, counter)
            else:
                subs = splitter(text, s, e)
            if len(subs) <= 1:
                refined.append((s, e, c, strength))
                continue
            for i, (ss, se) in enumerate(subs):
                fresh.append(len(refined))
                refined.append((ss, se, -1, strength if i == len(subs) - 1 else level))
        sizes = counter.count_many(
            [
                text[refined[i - 1][1] if with_gaps and i else refined[i][0] : refined[i][1]]
                for i in fresh
            ]
        )
        for i, size in zip(fresh, sizes, strict=True):
            s, e, _, strength = refined[i]
            refined[i] = (s, e, size, strength)
        items = refined
    items = _halve_until_fit(text, items, budget, counter)
    atoms = Atoms()
    for s, e, c, strength in items:
        atoms.starts.append(s)
        atoms.ends.append(e)
        atoms.costs.append(c)
        atoms.strengths.append(strength)
    return atoms


def _halve_until_fit(
    text: str, items: list[tuple[int, int, int, int]], budget: int, counter: TokenCounter
) -> list[tuple[int, int, int, int]]:
    # Re-tokenising a run of word pieces can cost a token more than it did in place.
    if all(item[2] <= budget for item in items):
        return items
    out: list[tuple[int, int, int, int]] = []
    for s, e, c, strength in items:
        stack = [(s, e, c, strength)]
        while stack:
            ps, pe, pc, pst = stack.pop()
            if pc <= budget:
                out.append((ps, pe, pc, pst))
                continue
            if pe - ps <= 1:
                raise ValueError(
                    f"chunk_size leaves a budget of {budget} but the character "
                    f"{text[ps:pe]!r} alone costs {pc}; use a larger chunk_size"
                )
            mid = (ps + pe) // 2
            left, right = counter.count_many([text[ps:mid], text[mid:pe]])
            stack.append((mid, pe, right, pst))
            stack.append((ps, mid, left, MID_WORD))
    return out


def pack_atoms(
    atoms: Atoms,
    budget: int,
    overlap: int,
    gaps: Sequence[int] | None = None,
    min_fill: float = 0.5,
) -> list[tuple[int, int]]:
    """Group consecutive atoms into chunks costing at most ``budget``; inclusive index pairs.

    A chunk that fills up mid-sentence ends instead at its last strongest boundary when
    that keeps at least ``min_fill`` of the budget. The next chunk starts with the longest
    run of trailing atoms of the previous one costing at most ``overlap``.

    Args:
        atoms: the atoms, each costing at most ``budget``.
        budget: the most one chunk may cost.
        overlap: the most the start of a chunk may repeat of the previous chunk.
        gaps: cost of the text between atom ``i - 1`` and atom ``i`` (characters); zeros
            when whitespace is free (tokens).
        min_fill: the fraction of ``budget`` a chunk keeps when it backs off.

    Example:
        >>> atoms = Atoms([0, 3, 6], [2, 5, 8], [2, 2, 2], [3, 3, 3])
        >>> pack_atoms(atoms, budget=4, overlap=0)
        [(0, 1), (2, 2)]
    """
    n = len(atoms)
    if n == 0:
        return []
    gap = list(gaps) if gaps is not None else [0] * n
    prefix = [0] * (n + 1)
    for i in range(n):
        prefix[i + 1] = prefix[i] + atoms.costs[i] + (gap[i] if i else 0)

    def cost(a: int, b: int) -> int:
        return prefix[b + 1] - prefix[a] - (gap[a] if a else 0)

    strengths = atoms.strengths
    chunks: list[tuple[int, int]] = []
    a = 0
    last_end = -1
    while a < n:
        b = a
        while b + 1 < n and cost(a, b + 1) <= budget:
            b += 1
        # Back off only to boundaries past the previous chunk's end, so every chunk adds text.
        lo = max(a, last_end + 1)
        if b + 1 < n and b > lo:
            best = max(strengths[lo : b + 1])
            if strengths[b] < best:
                k = b
                while strengths[k] < best:
                    k -= 1
                if cost(a, k) >= min_fill * budget:
                    b = k
        chunks.append((a, b))
        last_end = b
        if b + 1 >= n:
            break
        m = b + 1
        while overlap > 0 and m - 1 > a and cost(m - 1, b) <= overlap:
            m -= 1
        while m <= b and cost(m, b + 1) > budget:
            m += 1
        a = m
    return chunks
