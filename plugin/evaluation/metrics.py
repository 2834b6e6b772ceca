"""Ranking metrics as small pure functions (trec_eval/BEIR conventions).

A ranking is a sequence of document ids, best first; grades map document ids to relevance
(> 0 relevant, 0 or absent not relevant). Repeated ids count once, at their first rank.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}")


def _unique(ranking: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for doc_id in ranking:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain with linear gain: sum of ``gain_i / log2(i + 1)``, i from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gain (the grade itself), as trec_eval's ``ndcg_cut`` and BEIR.

    Example:
        >>> round(ndcg_at_k(["a", "b"], {"b": 1}), 4)
        0.6309
    """
    _check_k(k)
    ideal = sorted((max(g, 0) for g in grades.values()), reverse=True)[:k]
    best = dcg(ideal)
    if best <= 0:
        return 0.0
    gains = [max(grades.get(doc_id, 0), 0) for doc_id in _unique(ranking)[:k]]
    return dcg(gains) / best


def recall_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents (grade > 0) found in the top ``k``; 0 when none exist."""
    _check_k(k)
    relevant = {doc_id for doc_id, g in grades.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_unique(ranking)[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top ``k`` (0 if none)."""
    _check_k(k)
    for rank, doc_id in enumerate(_unique(ranking)[:k], start=1):
        if grades.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q!r}")
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN for no values."""
    return sum(values) / len(values) if values else float("nan")


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    ndcg_k: int = 10,
    recall_k: int = 100,
    mrr_k: int = 10,
) -> dict[str, float]:
    """Mean nDCG@k, Recall@k and MRR@k over every query in ``qrels`` (missing runs score 0)."""
    ndcg, recall, mrr = [], [], []
    for qid, grades in qrels.items():
        ranking = rankings.get(qid, [])
        ndcg.append(ndcg_at_k(ranking, grades, ndcg_k))
        recall.append(recall_at_k(ranking, grades, recall_k))
        mrr.append(mrr_at_k(ranking, grades, mrr_k))
    return {
        f"ndcg@{ndcg_k}": mean(ndcg),
        f"recall@{recall_k}": mean(recall),
        f"mrr@{mrr_k}": mean(mrr),
    }


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95 in milliseconds and queries per second (sequential) from per-query seconds."""
    total = sum(seconds)
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "qps": len(seconds) / total if total > 0 else float("nan"),
    }
