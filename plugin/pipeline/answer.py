"""Answers from retrieved passages: extractive by default, an LLM when one is configured."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore

# Sentence ends: ., ! or ? (also CJK full stops) followed by space; blank lines too. A few
# abbreviations ("e.g.", "i.e.", "etc.") do not end a sentence.
_SENTENCE_END = re.compile(
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<=[.!?\u3002\uff01\uff1f])\s+|\n\s*\n"
)
_MIN_SENTENCE_CHARS = 25
# Headings underlined with rules ("****", "====") are not answers.
_RULE = re.compile(r"[*=~^#-]{4,}")


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with the 1-based rank of its passage."""

    text: str
    source: int
    position: int


def _quotable(node: BaseNode) -> Iterator[tuple[int, str]]:
    """(position, sentence) for each sentence of ``node`` long enough to stand alone."""
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    for pos, raw in enumerate(_SENTENCE_END.split(text)):
        sentence = " ".join(raw.split())
        if len(sentence) >= _MIN_SENTENCE_CHARS and not _RULE.search(sentence):
            yield pos, sentence


def candidate_sentences(nodes: Sequence[NodeWithScore], max_passages: int) -> list[Candidate]:
    """Sentences of the top passages long enough to stand alone as an answer."""
    out: list[Candidate] = []
    seen: set[str] = set()  # overlapping chunks repeat sentences
    for rank, item in enumerate(nodes[:max_passages], start=1):
        for pos, sentence in _quotable(item.node):
            if sentence not in seen:
                seen.add(sentence)
                out.append(Candidate(sentence, rank, pos))
    return out


def answer_sentences(
    nodes: Sequence[BaseNode],
    tokenizer: Callable[..., Mapping[str, list[list[int]]]] | None = None,
) -> list[str]:
    """Every sentence of ``nodes`` that `candidate_sentences` may pick, once each, shortest
    first: what ingestion embeds ahead of questions so the answer step finds them cached.

    Args:
        nodes: the chunks being ingested.
        tokenizer: the embedding model's Hugging Face tokenizer, to order by tokens;
            ``None`` orders by characters.

    Shortest first because a batch pads to its longest text: sentences of similar length
    share a batch, so little of a batch is padding.
    """
    unique = sorted({s for node in nodes for _, s in _quotable(node)}, key=lambda s: (len(s), s))
    if tokenizer is None or not unique:
        return unique
    ids = tokenizer(unique, add_special_tokens=False)["input_ids"]
    return [unique[i] for i in sorted(range(len(unique)), key=lambda i: len(ids[i]))]


def select_sentences(
    query_vec: np.ndarray,
    sentence_vecs: np.ndarray,
    candidates: Sequence[Candidate],
    max_sentences: int,
    rank_penalty: float = 0.03,
) -> list[Candidate]:
    """The sentences most similar to the question, favouring better-ranked passages.

    Returned in reading order (by passage rank, then position) so the answer reads well.
    """
    if not candidates:
        return []
    sims = sentence_vecs @ query_vec
    scores = sims - rank_penalty * np.array([c.source - 1 for c in candidates])
    chosen = np.argsort(-scores, kind="stable")[:max_sentences]
    return sorted((candidates[i] for i in chosen), key=lambda c: (c.source, c.position))


def extractive_answer(
    question: str,
    nodes: Sequence[NodeWithScore],
    embed_model: BaseEmbedding,
    max_sentences: int = 3,
    max_passages: int = 3,
) -> str:
    """The best-supported sentences of the top passages, each with its source number.

    No LLM is involved: every word of the answer is quoted from a source.
    """
    candidates = candidate_sentences(nodes, max_passages)
    if not candidates:
        return "No passage in the index answers this question."
    query_vec = np.asarray(embed_model.get_query_embedding(question), dtype=np.float32)
    sentence_vecs = np.asarray(
        embed_model.get_text_embedding_batch([c.text for c in candidates]), dtype=np.float32
    )
    query_vec /= max(float(np.linalg.norm(query_vec)), 1e-12)
    sentence_vecs /= np.maximum(np.linalg.norm(sentence_vecs, axis=1, keepdims=True), 1e-12)
    picked = select_sentences(query_vec, sentence_vecs, candidates, max_sentences)
    return " ".join(f"{c.text} [{c.source}]" for c in picked)
