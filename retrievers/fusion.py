"""Rank and score fusion of ranked lists as pure functions that explain each fused score.

Methods (`FUSION_METHODS`):

* ``"zscore"``: each list's scores are standardised over that list (``(s - mean) / std``);
  a document missing from a list gets that list's lowest standardised score; the fused
  score is the weighted sum. Per-query normalisation adapts to each query's score
  distribution: a side whose best hit stands far above the rest counts more for that query.
* ``"dbsf"``: Qdrant's distribution-based score fusion: ``(s - (mean - 3 std)) / 6 std``
  per list, 0 where a document is missing (what ``fusion="qdrant"`` runs server-side).
* ``"minmax"``: ``(s - min) / (max - min)`` per list, 0 where missing.
* ``"rrf"``: reciprocal rank fusion, ``w / (k + rank)`` summed over lists (scores unused).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.schema import NodeWithScore

from ragdrop.core import validation as check
from ragdrop.core.choices import FUSION_METHODS as FUSION_METHODS
from ragdrop.core.choices import FUSION_MODES as FUSION_MODES
from ragdrop.core.choices import FusionMethod as FusionMethod
from ragdrop.core.choices import FusionMode as FusionMode
from ragdrop.core.provenance import FUSION_KEY, annotate

# FusionMode: where the two sides are fused, here or inside Qdrant (Query API); FusionMethod:
# how the lists are combined (see the module docstring). Both are defined in core.choices.
_TINY = 1e-12


def normalized_scores(scores: Sequence[float], method: str) -> tuple[list[float], float]:
    """``(normalised score per entry, value of a missing document)`` of one ranked list.

    A list whose scores are all equal (or a single hit) normalises to 1.0 each (0.0 for
    z-scores), so it neither dominates nor vanishes.

    Example:
        >>> normalized_scores([3.0, 1.0], "minmax")
        ([1.0, 0.0], 0.0)
        >>> normalized_scores([3.0, 1.0], "zscore")
        ([1.0, -1.0], -1.0)
    """
    check.choice("method", method, FUSION_METHODS[:3])
    values = [float(s) for s in scores]
    if not values:
        return [], 0.0
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / n) ** 0.5
    if method == "zscore":
        if std <= _TINY:
            return [0.0] * n, 0.0
        z = [(v - mean) / std for v in values]
        return z, min(z)
    if method == "dbsf":
        # Qdrant's DBSF uses the sample standard deviation.
        sample = std * (n / (n - 1)) ** 0.5 if n > 1 else 0.0
        if sample <= _TINY:
            return [1.0] * n, 0.0
        low = mean - 3 * sample
        return [(v - low) / (6 * sample) for v in values], 0.0
    low, high = min(values), max(values)
    if high - low <= _TINY:
        return [1.0] * n, 0.0
    return [(v - low) / (high - low) for v in values], 0.0


def score_fusion_scores(
    scored: Sequence[Sequence[tuple[str, float]]],
    method: str = "zscore",
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """Weighted sum of per-list normalised scores (`normalized_scores`) per id.

    Every id in any list gets a score; where a list lacks it, that list's missing value.
    The first occurrence of an id in a list counts.
    """
    weights = [1.0] * len(scored) if weights is None else weights
    per_list: list[tuple[dict[str, float], float, float]] = []
    for lst, weight in zip(scored, weights, strict=True):
        if weight == 0:
            continue
        first: dict[str, float] = {}
        for ident, score in lst:
            first.setdefault(ident, score)
        normed, missing = normalized_scores(list(first.values()), method)
        per_list.append((dict(zip(first, normed, strict=True)), missing, float(weight)))
    # Every id starts at the sum of the lists' missing values; each list then adds
    # the difference it makes where it holds the id (one pass over the entries).
    base = sum(w * missing for _, missing, w in per_list)
    totals: dict[str, float] = {}
    for normed_map, missing, w in per_list:
        for ident, value in normed_map.items():
            totals[ident] = totals.get(ident, base) + w * (value - missing)
    return totals


def rrf_scores(
    rankings: Sequence[Sequence[str]], k: float = 60.0, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """``sum_s w_s / (k + rank_s(d))`` per id, rank starting at 1, first occurrence per list.

    The maths of `reciprocal_rank_fusion`, on plain id lists.
    """
    weights = [1.0] * len(rankings) if weights is None else weights
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight == 0:
            continue
        seen: set[str] = set()
        for ident in ranking:
            if ident in seen:
                continue
            seen.add(ident)
            scores[ident] = scores.get(ident, 0.0) + weight / (k + len(seen))
    return scores


def _check_weights(weights: Sequence[float] | None, n: int) -> None:
    if weights is None:
        return
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
        raise ValueError(f"weights must be a sequence of numbers, got {weights!r}")
    if len(weights) != n:
        raise ValueError(f"weights has {len(weights)} values for {n} result lists")
    for w in weights:
        check.finite_number("weights", w, minimum=0)


def _validate(
    result_lists: Sequence[Sequence[NodeWithScore]],
    k: float,
    weights: Sequence[float] | None,
    depth: int | Sequence[int | None] | None,
) -> list[int | None]:
    if isinstance(result_lists, str | bytes) or not isinstance(result_lists, Sequence):
        raise TypeError("result_lists must be a sequence of lists of NodeWithScore")
    check.finite_number("k", k, minimum=0)
    n = len(result_lists)
    _check_weights(weights, n)
    depths: list[int | None]
    if depth is None or isinstance(depth, int):
        depths = [depth] * n
    else:
        depths = list(depth)
        if len(depths) != n:
            raise ValueError(f"depth has {len(depths)} values for {n} result lists")
    for d in depths:
        check.optional_positive_int("depth", d)
    return depths


def fuse_result_lists(
    result_lists: Sequence[Sequence[NodeWithScore]],
    method: str = "zscore",
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    depth: int | Sequence[int | None] | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
) -> list[NodeWithScore]:
    """Fuse ranked lists of nodes by ``method`` (see the module docstring).

    Same contract as `reciprocal_rank_fusion` (inputs never modified, provenance in
    ``metadata["fusion"]``, deterministic ties); ``k`` is used by ``"rrf"`` only.

    Example:
        >>> from llama_index.core.schema import TextNode
        >>> a, b, c = (TextNode(text=t, id_=t) for t in "abc")
        >>> bm25 = [NodeWithScore(node=a, score=9.0), NodeWithScore(node=b, score=1.0),
        ...         NodeWithScore(node=c, score=0.5)]
        >>> dense = [NodeWithScore(node=b, score=0.52), NodeWithScore(node=a, score=0.50),
        ...          NodeWithScore(node=c, score=0.49)]
        >>> [n.node.node_id for n in fuse_result_lists([bm25, dense], "zscore")]
        ['a', 'b', 'c']
    """
    return _fuse_nodes(result_lists, method, k, weights, depth, top_k, sources)


def reciprocal_rank_fusion(
    result_lists: Sequence[Sequence[NodeWithScore]],
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    depth: int | Sequence[int | None] | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
) -> list[NodeWithScore]:
    """Fuse ranked lists: score ``sum_s weight_s / (k + rank_s)`` (rank 1 = best of list s).

    Each list is ranked in the order given (sorted best first by its retriever). A node id
    counts once per list (its best rank); a weight of 0 removes a list. Ties are broken by
    the best single rank, then by list order, then by node id, so the output is
    deterministic. Inputs are never modified: each result is a new ``NodeWithScore`` over a
    copy of the node whose ``metadata["fusion"]`` holds the provenance
    ``{"score": ..., "sources": {name: {"rank": r, "score": s}}}``, kept out of the
    embedding and LLM views of the node.

    Args:
        result_lists: one ranked list per retriever.
        k: RRF constant (60 in the original paper).
        weights: one weight >= 0 per list (default 1 each).
        depth: candidates read from each list (one value, or one per list; None = all).
        top_k: length of the fused list (None = all).
        sources: names of the lists in the provenance (default ``"0"``, ``"1"``, ...).

    Example:
        >>> from llama_index.core.schema import TextNode
        >>> a, b = TextNode(text="a", id_="a"), TextNode(text="b", id_="b")
        >>> fused = reciprocal_rank_fusion([[NodeWithScore(node=a, score=2.0)],
        ...                                 [NodeWithScore(node=b, score=.9),
        ...                                  NodeWithScore(node=a, score=.8)]])
        >>> [n.node.node_id for n in fused]
        ['a', 'b']
    """
    return _fuse_nodes(result_lists, "rrf", k, weights, depth, top_k, sources)


def _fuse_nodes(
    result_lists: Sequence[Sequence[NodeWithScore]],
    method: str,
    k: float,
    weights: Sequence[float] | None,
    depth: int | Sequence[int | None] | None,
    top_k: int | None,
    sources: Sequence[str] | None,
) -> list[NodeWithScore]:
    depths = _validate(result_lists, k, weights, depth)
    check.optional_positive_int("top_k", top_k)
    if sources is not None and len(sources) != len(result_lists):
        raise ValueError(f"sources has {len(sources)} names for {len(result_lists)} result lists")
    first_seen: dict[str, NodeWithScore] = {}
    ranked: list[list[tuple[str, float | None]]] = []
    for lst, d in zip(result_lists, depths, strict=True):
        items = list(lst)[:d] if d is not None else list(lst)
        for item in items:
            first_seen.setdefault(item.node.node_id, item)
        ranked.append([(item.node.node_id, item.score) for item in items])
    return [
        with_fusion_provenance(first_seen[i], score, prov)
        for i, score, prov in fuse_ranked_ids(ranked, k, weights, top_k, sources, method)
    ]


def fuse_ranked_ids(
    ranked: Sequence[Sequence[tuple[str, float | None]]],
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
    method: str = "rrf",
) -> list[tuple[str, float, dict[str, dict[str, Any]]]]:
    """Fuse ``(id, score)`` lists: ``(id, fused score, provenance per source)``, best first.

    The core of `reciprocal_rank_fusion` and `fuse_result_lists` (same dedup and
    tie-break) for callers that fuse before materialising nodes. Score methods need every
    score; a list with a missing (None) score is fused by its ranks (``-rank``) instead.
    """
    _check_weights(weights, len(ranked))
    check.optional_positive_int("top_k", top_k)
    check.choice("method", method, FUSION_METHODS)
    names = [str(i) for i in range(len(ranked))] if sources is None else list(sources)
    weights = [1.0] * len(ranked) if weights is None else [float(w) for w in weights]
    scores = _fused_scores(ranked, k, weights, method)
    firsts = _first_ranks(ranked, weights)
    provenance: dict[str, dict[str, dict[str, Any]]] = {}
    for li, rank, ident, score in firsts:
        provenance.setdefault(ident, {})[names[li]] = {"rank": rank, "score": score}
    best = _best_ranks(firsts)
    order = sorted(scores, key=lambda i: (-scores[i], best[i], i))
    if top_k is not None:
        order = order[:top_k]
    return [(i, scores[i], provenance[i]) for i in order]


def _first_ranks(
    ranked: Sequence[Sequence[tuple[str, float | None]]], weights: Sequence[float]
) -> list[tuple[int, int, str, float | None]]:
    """``(list index, rank from 1, id, score)`` of each id's first occurrence per list; lists
    of weight 0 are left out."""
    out = []
    for li, (lst, weight) in enumerate(zip(ranked, weights, strict=True)):
        if weight == 0:
            continue
        seen: set[str] = set()
        for ident, score in lst:
            if ident not in seen:
                seen.add(ident)
                out.append((li, len(seen), ident, score))
    return out


def _best_ranks(firsts: Sequence[tuple[int, int, str, float | None]]) -> dict[str, tuple[int, int]]:
    """Each id's best ``(rank, list index)`` (from `_first_ranks`): every fusion's tie-break."""
    best: dict[str, tuple[int, int]] = {}
    for li, rank, ident, _ in firsts:
        if ident not in best or (rank, li) < best[ident]:
            best[ident] = (rank, li)
    return best


def _fused_scores(
    ranked: Sequence[Sequence[tuple[str, float | None]]],
    k: float,
    weights: Sequence[float],
    method: str,
) -> dict[str, float]:
    if method == "rrf":
        return rrf_scores([[i for i, _ in lst] for lst in ranked], k, weights)
    scored: list[list[tuple[str, float]]] = []
    for lst in ranked:
        values = [s for _, s in lst]
        if all(s is not None for s in values):
            scored.append([(i, float(s or 0.0)) for i, s in lst])
        else:  # a list without scores is fused by its ranks
            scored.append([(i, -float(r)) for r, (i, _) in enumerate(lst, 1)])
    return score_fusion_scores(scored, method, weights)


def fused_top(
    bm25: Sequence[tuple[str, float | None]],
    vector: Sequence[tuple[str, float | None]],
    n: int,
    fusion: Mapping[str, Any],
) -> list[str]:
    """The ids of the first ``n`` of `fuse_ranked_ids` (``fusion``: method, k, weights), without
    building the provenance (the feedback pass's first look)."""
    weights = [float(w) for w in fusion["weights"]]
    scores = _fused_scores([bm25, vector], float(fusion["k"]), weights, str(fusion["method"]))
    best = _best_ranks(_first_ranks([bm25, vector], weights))
    return heapq.nsmallest(n, scores, key=lambda i: (-scores[i], best[i], i))


def with_fusion_provenance(
    item: NodeWithScore, score: float, sources: dict[str, dict[str, Any]]
) -> NodeWithScore:
    """A new ``NodeWithScore`` over a copy of the node with ``metadata["fusion"]`` set."""
    return annotate(item, FUSION_KEY, {"score": score, "sources": sources}, score)
