"""Reciprocal rank fusion as a pure function that explains each fused score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

from llama_index.core.schema import NodeWithScore

from ragdrop.core import validation as check
from ragdrop.core.provenance import FUSION_KEY, annotate

# Where the two sides are fused: here (reciprocal_rank_fusion) or inside Qdrant (Query API).
FusionMode = Literal["client", "qdrant"]
FUSION_MODES: tuple[str, ...] = get_args(FusionMode)


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
        for i, score, prov in fuse_ranked_ids(ranked, k, weights, top_k, sources)
    ]


def fuse_ranked_ids(
    ranked: Sequence[Sequence[tuple[str, float | None]]],
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    top_k: int | None = None,
    sources: Sequence[str] | None = None,
) -> list[tuple[str, float, dict[str, dict[str, Any]]]]:
    """RRF on ``(id, score)`` lists: ``(id, fused score, provenance per source)``, best first.

    The core of `reciprocal_rank_fusion` (same scores, dedup and tie-break) for callers
    that fuse before materialising nodes.
    """
    _check_weights(weights, len(ranked))
    check.optional_positive_int("top_k", top_k)
    names = [str(i) for i in range(len(ranked))] if sources is None else list(sources)
    weights = [1.0] * len(ranked) if weights is None else [float(w) for w in weights]
    scores = rrf_scores([[i for i, _ in lst] for lst in ranked], k, weights)
    provenance: dict[str, dict[str, dict[str, Any]]] = {}
    best: dict[str, tuple[int, int]] = {}
    for li, (lst, weight) in enumerate(zip(ranked, weights, strict=True)):
        if weight == 0:
            continue
        rank = 0
        for ident, score in lst:
            per_source = provenance.setdefault(ident, {})
            if names[li] in per_source:
                continue
            rank += 1
            per_source[names[li]] = {"rank": rank, "score": score}
            best[ident] = min(best.get(ident, (rank, li)), (rank, li))
    order = sorted(scores, key=lambda i: (-scores[i], best[i], i))
    if top_k is not None:
        order = order[:top_k]
    return [(i, scores[i], provenance[i]) for i in order]


def with_fusion_provenance(
    item: NodeWithScore, score: float, sources: dict[str, dict[str, Any]]
) -> NodeWithScore:
    """A new ``NodeWithScore`` over a copy of the node with ``metadata["fusion"]`` set."""
    return annotate(item, FUSION_KEY, {"score": score, "sources": sources}, score)
