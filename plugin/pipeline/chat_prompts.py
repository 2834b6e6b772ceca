"""The text side of a chat turn: the follow-up rule, the prompts, the citations.

Pure functions, no I/O: `ragdrop.pipeline.chat` (its docstring states the rule) calls them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragdrop.pipeline.conversations import Turn
from ragdrop.pipeline.results import Source

MAX_KEY_TERMS = 8
MAX_FOLLOW_UP_WORDS = 3
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_REFERRING = frozenset(
    "it its it's they them their theirs this that these those he him his she her one ones "
    "there such same former latter".split()
)
_CONTINUATIONS = ("and", "but", "also", "so", "or", "then", "what about", "how about")
_STOPWORDS = _REFERRING | frozenset(
    "a an the of in on at to for from by with about into over under as is are was were be "
    "been being am do does did done have has had can could would should will shall may might "
    "must not no yes and or but so if then than too very just also more most less some any "
    "all each every other what which who whom whose when where why how i me my mine we us our "
    "you your yours tell explain describe show give say said know please thanks thank ok okay "
    "there here now again else like much many well really get got go".split()
)
_ANSWER_PROMPT = (
    "Answer the question using only the numbered passages below. Cite each passage you use "
    "with its number in square brackets, like [1]. If the passages do not answer the "
    "question, say so.\n\n{history}Passages:\n{passages}\n\nQuestion: {question}\nAnswer: "
)


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry its topic, in order, each once (case-insensitive).

    >>> content_words("Tell me about Qdrant and its Rust engine")
    ['Qdrant', 'Rust', 'engine']
    """
    seen: set[str] = set()
    out: list[str] = []
    for word in _WORD.findall(text):
        low = word.lower()
        if len(low) > 1 and low not in _STOPWORDS and low not in seen:
            seen.add(low)
            out.append(word)
    return out


def is_follow_up(message: str) -> bool:
    """Whether ``message`` leans on earlier turns (the rule in the module docstring).

    >>> is_follow_up("and what language is it written in?"), is_follow_up("how fast?")
    (True, True)
    >>> is_follow_up("What is BM25?"), is_follow_up("Which databases support sparse vectors?")
    (False, False)
    """
    low = message.strip().lower()
    words = [w.lower() for w in _WORD.findall(low)]
    if any(w in _REFERRING for w in words) or any(
        low == c or low.startswith(c + " ") for c in _CONTINUATIONS
    ):
        return True
    topic = content_words(message)
    first = _WORD.findall(message)[:1]
    # A name (capitals past the first word, or digits) says the message has its own topic.
    named = any(
        any(ch.isdigit() for ch in w) or (w not in first and any(ch.isupper() for ch in w))
        for w in topic
    )
    return len(topic) <= MAX_FOLLOW_UP_WORDS and not named


def condense_question(message: str, earlier_questions: Sequence[str]) -> str:
    """The standalone question for ``message`` after ``earlier_questions`` (oldest first),
    without an LLM: a follow-up gets the earlier questions' key terms appended.

    >>> condense_question("and what language is it written in?", ["tell me about Qdrant"])
    'and what language is it written in? Qdrant'
    >>> condense_question("What is BM25?", [])
    'What is BM25?'
    """
    message = message.strip()
    if not earlier_questions or not is_follow_up(message):
        return message
    have = {w.lower() for w in content_words(message)}
    terms: list[str] = []
    for question in reversed(earlier_questions):
        for word in content_words(question):
            if word.lower() not in have and len(terms) < MAX_KEY_TERMS:
                have.add(word.lower())
                terms.append(word)
    return f"{message} {' '.join(terms)}" if terms else message


def history_text(turns: Sequence[Turn]) -> str:
    """The kept turns as ``Human: ...`` / ``Assistant: ...`` lines (the prompts' format)."""
    lines: list[str] = []
    for turn in turns:
        lines.append(f"Human: {turn.get('message', '')}")
        lines.append(f"Assistant: {turn.get('answer', '')}")
    return "\n".join(lines)


def answer_prompt(question: str, sources: Sequence[Source], turns: Sequence[Turn]) -> str:
    """The LLM prompt: the conversation so far, the passages numbered from 1, the question."""
    passages = "\n\n".join(f"[{i}] {s.text.strip()}" for i, s in enumerate(sources, start=1))
    history = f"Conversation so far:\n{history_text(turns)}\n\n" if turns else ""
    return _ANSWER_PROMPT.format(history=history, passages=passages, question=question)


def citations(answer: str, n_sources: int) -> list[int]:
    """The passage numbers ``[n]`` that ``answer`` cites, in order, each once, in range.

    >>> citations("Rust [2], fast [1] [2] [9]", 3)
    [2, 1]
    """
    out: list[int] = []
    for match in _CITATION.finditer(answer):
        n = int(match.group(1))
        if 1 <= n <= n_sources and n not in out:
            out.append(n)
    return out
