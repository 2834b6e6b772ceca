"""Pure helpers of the cross-encoder reranker: dedup, batching, token budgets, ranking."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence


def content_hash(text: str) -> str:
    """SHA-256 hex of the exact text a cross-encoder reads for one candidate."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sigmoid(x: float) -> float:
    """Logistic function, stable for large ``|x|`` (``math.exp`` overflows past ~709)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def identity(x: float) -> float:
    """The logit itself (``torch.nn.Identity``)."""
    return x


# The activations sentence-transformers' cross-encoders name in their configs, by the dotted
# name it saves (`sentence_transformers.util.fullname`): applied here without importing
# torch, so scores served from the cache stay free of torch's import cost.
PURE_ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "torch.nn.modules.activation.Sigmoid": sigmoid,
    "torch.nn.modules.linear.Identity": identity,
    "torch.nn.modules.activation.Tanh": math.tanh,
}


def unique_positions(keys: Sequence[str]) -> tuple[list[int], list[int]]:
    """Collapse equal keys so each distinct candidate is scored once.

    Returns ``(firsts, slot)``: ``firsts[j]`` is the index of the first candidate with the
    j-th distinct key, ``slot[i]`` the distinct key candidate ``i`` maps to.

    Example:
        >>> unique_positions(["a", "b", "a"])
        ([0, 1], [0, 1, 0])
    """
    seen: dict[str, int] = {}
    firsts: list[int] = []
    slot: list[int] = []
    for i, key in enumerate(keys):
        j = seen.get(key)
        if j is None:
            j = seen[key] = len(firsts)
            firsts.append(i)
        slot.append(j)
    return firsts, slot


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Padding a batch to its longest member wastes compute on every shorter one; sorting
    first keeps that waste small. The longest batch comes first so a memory error, if any,
    shows up at once.

    Example:
        >>> length_sorted_batches([5, 100, 7, 90], 2)
        [[1, 3], [2, 0]]
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def split_token_budget(
    query_tokens: int, max_length: int, special_tokens: int, min_passage_tokens: int
) -> tuple[int, int]:
    """Tokens kept of the query and of each passage so the pair fits ``max_length``.

    The query is kept whole; only a query so long that fewer than ``min_passage_tokens``
    passage tokens would remain is cut, so the passage is never squeezed out.

    Example:
        >>> split_token_budget(10, 256, 3, 32)
        (10, 243)
        >>> split_token_budget(500, 256, 3, 32)
        (221, 32)
    """
    room = max_length - special_tokens
    if room < 2:
        raise ValueError(
            f"max_length={max_length} leaves no room for a query and a passage "
            f"beside {special_tokens} special tokens"
        )
    floor = max(1, min(min_passage_tokens, room // 2))
    kept_query = min(query_tokens, room - floor)
    return kept_query, room - kept_query


def rank_indices(scores: Sequence[float], top_n: int | None, threshold: float | None) -> list[int]:
    """Indices by descending score (ties keep input order), filtered and cut to ``top_n``.

    Example:
        >>> rank_indices([0.1, 0.9, 0.5, 0.9], top_n=3, threshold=0.2)
        [1, 3, 2]
    """
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if threshold is not None:
        order = [i for i in order if scores[i] >= threshold]
    return order if top_n is None else order[:top_n]
