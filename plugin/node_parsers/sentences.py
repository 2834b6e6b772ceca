"""Sentence, clause and word boundaries as exact character spans, with nothing downloaded.

Every function returns ``(start, end)`` pairs into the text it was given: spans never hold
leading or trailing whitespace, are in order, do not overlap, and together cover every
non-whitespace character of the range. Offsets are computed, never searched for, so a
sentence that repeats keeps its own position.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

REPLACEMENT_CHARACTER = "\ufffd"
# NUL and lone surrogates (a str holding D800-DFFF cannot be encoded as UTF-8).
_UNSAFE = re.compile("[\x00\ud800-\udfff]")

# Words after which a full stop rarely ends a sentence.
ABBREVIATIONS = frozenset(
    """
    a.m al approx apr aug ca cf ch co corp dec dept dr ed eds e.g eq est et etc.al feb fig
    figs gen gov i.e inc jan jr jul jun lt ltd mar mr mrs ms mt no nos nov oct p pp p.m prof
    pt ref rep rev sec sen sep sept sgt sr st vol vols vs viz
    """.split()
)
# Terminators that end a sentence only when whitespace follows.
_SPACED_END = re.compile(
    r"(?:[.!?\u2026\u203d\u0589\u061f\u06d4\u0964\u0965]+)[\"'\u201d\u2019\u00bb)\]]*"
)
# Full-width CJK terminators end a sentence even when the next character follows directly.
_CJK_END = re.compile(r"[\u3002\uff01\uff1f\uff61]+[\u300d\u300f\uff09\u201d\u2019]*")
# Blank lines, and single line breaks before a list item or a heading.
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+\u2022]\s|#{1,6}\s|\d{1,3}[.)]\s))")
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_CLAUSE_END = re.compile(r"[,;:)\]}\u3001\uff0c\uff1b\uff1a]+(?=\s)|\n")
_WORD = re.compile(r"\S+")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def sanitize_text(text: str) -> tuple[str, int]:
    """Replace NUL and lone surrogates by U+FFFD, one for one, so offsets are unchanged.

    Returns the text and how many characters were replaced.
    """
    if _UNSAFE.search(text) is None:
        return text, 0
    return _UNSAFE.subn(REPLACEMENT_CHARACTER, text)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    stripped = piece.lstrip()
    if not stripped:
        return None
    left = len(piece) - len(stripped)
    return start + left, start + left + len(stripped.rstrip())


def spans_between(text: str, cuts: list[int], start: int, end: int) -> list[Span]:
    """Whitespace-trimmed, non-empty spans of ``text[start:end]`` between sorted ``cuts``."""
    spans: list[Span] = []
    previous = start
    for cut in cuts:
        if previous < cut < end:
            span = _trimmed(text, previous, cut)
            if span is not None:
                spans.append(span)
            previous = cut
    span = _trimmed(text, previous, end)
    if span is not None:
        spans.append(span)
    return spans


def _is_abbreviation(text: str, dot: int, next_is_upper: bool) -> bool:
    match = _WORD_BEFORE.search(text, max(0, dot - 24), dot)
    if match is None:
        return False
    word = match.group(1).lower().lstrip(".")
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    if word == "etc":
        return not next_is_upper  # "etc." often ends a sentence
    return word in ABBREVIATIONS


def _fenced_ranges(text: str) -> list[Span]:
    if "```" not in text and "~~~" not in text:
        return []
    return [m.span() for m in _FENCE.finditer(text)]


def _sentence_cuts(text: str) -> list[int]:
    cuts: list[int] = []
    size = len(text)
    for match in _SPACED_END.finditer(text):
        end = match.end()
        if end < size and not text[end].isspace():
            continue  # "3.14", "example.com", "a.b()"
        after = end
        while after < size and text[after].isspace():
            after += 1
        if after < size and text[after].islower():
            continue  # lower case after a stop: an abbreviation or an ellipsis mid-sentence
        if match.group().rstrip("\"'\u201d\u2019\u00bb)]") == "." and _is_abbreviation(
            text, match.start(), next_is_upper=after < size and text[after].isupper()
        ):
            continue
        cuts.append(end)
    cuts.extend(m.end() for m in _CJK_END.finditer(text))
    cuts.extend(m.start() for m in _BLOCK_BREAK.finditer(text))
    fences = _fenced_ranges(text)
    if fences:
        # Inside a code block only blank lines cut; the fences themselves always do.
        cuts = [c for c in cuts if not any(s < c < e for s, e in fences) or text[c] == "\n"]
        for s, e in fences:
            cuts.extend((s, e))
    cuts.sort()
    return cuts


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of ``text[start:end]``.

    Handles abbreviations ("e.g.", "Dr."), initials, decimals and URLs (a stop not followed
    by whitespace never cuts), paragraph breaks, list items, fenced code blocks (cut only at
    blank lines) and CJK, Devanagari, Arabic and Armenian terminators.

    Example:
        >>> text = "Dr. Smith paid 3.50 dollars. He left."
        >>> [text[s:e] for s, e in split_sentences(text)]
        ['Dr. Smith paid 3.50 dollars.', 'He left.']
    """
    stop = len(text) if end is None else end
    piece = text if (start == 0 and stop == len(text)) else text[start:stop]
    cuts = [start + c for c in _sentence_cuts(piece)]
    return spans_between(text, cuts, start, stop)


def split_clauses(text: str, start: int, end: int) -> list[Span]:
    """Spans of ``text[start:end]`` cut after commas, semicolons, colons and at line breaks."""
    cuts = [m.end() for m in _CLAUSE_END.finditer(text, start, end)]
    return spans_between(text, cuts, start, end)


def split_words(text: str, start: int, end: int) -> list[Span]:
    """Whitespace-separated word spans of ``text[start:end]``."""
    return [m.span() for m in _WORD.finditer(text, start, end)]
