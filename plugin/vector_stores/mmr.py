"""Maximal marginal relevance (MMR): the options LlamaIndex users pass, and the selection.

LlamaIndex's meaning of ``mmr_threshold`` is λ, the weight of relevance against diversity:
each next pick maximises ``λ · sim(q, d) − (1 − λ) · max sim(d, s)`` over the documents ``s``
already picked (λ = 1: plain ranking; λ = 0: only diversity). Qdrant's ``Mmr.diversity`` is
``1 − λ``. Candidates: ``mmr_prefetch_k``, or ``similarity_top_k · mmr_prefetch_factor``
(default 4, as LlamaIndex's own stores), never fewer than ``similarity_top_k``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ragdrop.core import validation as check

DEFAULT_MMR_THRESHOLD = 0.5
DEFAULT_MMR_PREFETCH_FACTOR = 4.0
# Qdrant's query API refuses more MMR candidates than this (``MMR_CANDIDATES_LIMIT_MAX``).
MAX_MMR_CANDIDATES = 16_384


@dataclass(frozen=True)
class MmrOptions:
    """Validated MMR settings of one query: λ and the number of candidates."""

    threshold: float
    candidates: int

    @property
    def diversity(self) -> float:
        """Qdrant's ``Mmr.diversity`` for this λ."""
        return 1.0 - self.threshold


def mmr_options(kwargs: Mapping[str, object], top_k: int) -> MmrOptions:
    """`MmrOptions` from query kwargs ``mmr_threshold``, ``mmr_prefetch_k`` and
    ``mmr_prefetch_factor``; raises ValueError naming the bad argument."""
    raw = kwargs.get("mmr_threshold")
    threshold = DEFAULT_MMR_THRESHOLD
    if raw is not None:
        threshold = check.finite_number("mmr_threshold", raw, minimum=0.0)
        if threshold > 1.0:
            raise ValueError(
                f"mmr_threshold must be between 0 and 1 (weight of relevance against "
                f"diversity), got {raw!r}"
            )
    prefetch_k = check.optional_positive_int("mmr_prefetch_k", kwargs.get("mmr_prefetch_k"))
    raw_factor = kwargs.get("mmr_prefetch_factor")
    if prefetch_k is not None and raw_factor is not None:
        raise ValueError(
            "mmr_prefetch_k and mmr_prefetch_factor cannot both be given; pass one of them"
        )
    if prefetch_k is None:
        factor = DEFAULT_MMR_PREFETCH_FACTOR
        if raw_factor is not None:
            factor = check.finite_number("mmr_prefetch_factor", raw_factor, minimum=1.0)
        prefetch_k = math.ceil(top_k * factor)
    candidates = max(prefetch_k, top_k)
    if candidates > MAX_MMR_CANDIDATES:
        raise ValueError(
            f"MMR would fetch {candidates} candidates, more than Qdrant allows "
            f"({MAX_MMR_CANDIDATES}); lower mmr_prefetch_k, mmr_prefetch_factor or "
            "similarity_top_k"
        )
    return MmrOptions(threshold=threshold, candidates=candidates)


def similarity_matrix(left: np.ndarray, right: np.ndarray, distance: str) -> np.ndarray:
    """Pairwise similarities (higher is closer) of the rows of ``left`` and ``right`` under a
    Qdrant distance: cosine, dot product, or the negated Euclid/Manhattan distance."""
    if distance == "Cosine":
        left = left / np.maximum(np.linalg.norm(left, axis=1, keepdims=True), 1e-30)
        right = right / np.maximum(np.linalg.norm(right, axis=1, keepdims=True), 1e-30)
        return np.asarray(left @ right.T)
    if distance == "Dot":
        return np.asarray(left @ right.T)
    diff = left[:, None, :] - right[None, :, :]
    if distance == "Euclid":
        return np.asarray(-np.sqrt((diff * diff).sum(axis=2)))
    if distance == "Manhattan":
        return np.asarray(-np.abs(diff).sum(axis=2))
    raise ValueError(f"distance {distance!r} has no MMR similarity")


def mmr_select(
    query: np.ndarray, candidates: np.ndarray, top_k: int, threshold: float, distance: str
) -> list[int]:
    """Indices of ``candidates`` (rows, in the order of relevance they were fetched) picked by
    MMR, in pick order: the most similar first, then greedily the best
    ``λ · sim(q, d) − (1 − λ) · max sim(d, picked)``; ties go to the earlier candidate.

    All similarities are computed at once (one matrix product); each pick is one vector step.
    """
    count = int(candidates.shape[0])
    if count == 0 or top_k < 1:
        return []
    vectors = np.asarray(candidates, dtype=np.float64)
    relevance = similarity_matrix(np.asarray(query, dtype=np.float64)[None, :], vectors, distance)[
        0
    ]
    pairwise = similarity_matrix(vectors, vectors, distance)
    picked = [int(np.argmax(relevance))]
    available = np.ones(count, dtype=bool)
    available[picked[0]] = False
    closest = pairwise[picked[0]].copy()  # max similarity of each candidate to the picked
    while len(picked) < min(top_k, count):
        scores = threshold * relevance - (1.0 - threshold) * closest
        scores[~available] = -np.inf
        best = int(np.argmax(scores))
        picked.append(best)
        available[best] = False
        np.maximum(closest, pairwise[best], out=closest)
    return picked


__all__ = [
    "DEFAULT_MMR_PREFETCH_FACTOR",
    "DEFAULT_MMR_THRESHOLD",
    "MAX_MMR_CANDIDATES",
    "MmrOptions",
    "mmr_options",
    "mmr_select",
    "similarity_matrix",
]
