"""Pseudo-relevance feedback: a second pass that learns from the first pass's best documents.

After the first fused ranking, the top ``docs`` documents are taken as relevant:

* **BM25 side (RM3):** the expansion terms are the ``terms`` most probable under the
  feedback documents' term distributions (``p(t|D) = tf / |D|``, averaged over them); the
  new query is ``(1 - term_weight) * p(t|query) + term_weight * p(t|feedback)`` (Lavrenko
  and Croft's relevance model mixed with the query, as in Anserini's RM3).
* **Dense side (Rocchio):** the query vector moves toward the feedback documents,
  ``q' = q / |q| + vector_weight * mean(d / |d|)``, and the vector side is searched again
  with ``q'`` (`feedback_plans`).

Both sides are fused again with the retriever's fusion method.

**Confidence gate:** the pass runs only when at least ``min_agreeing`` of the feedback
documents are in the top ``agreement_depth`` of *both* first-pass lists: two independent
rankers agreeing is the sign that the feedback documents are relevant (expanding from
wrong documents drifts the query). Otherwise the first pass stands, at its cost.
Chosen by leave-one-dataset-out over six collections (``benchmarks/select_default.py``,
``docs/QUALITY.md``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ragdrop.core.validation import Float, Int


class PseudoRelevanceFeedback(BaseModel):
    """Settings of the feedback pass (`HybridRetriever(feedback=...)`; None switches it off).

    Args:
        docs: first-pass documents taken as relevant.
        terms: expansion terms added to the BM25 query.
        term_weight: share of the expansion in the BM25 query (0 = BM25 side unchanged).
        vector_weight: how far the query vector moves toward the feedback documents
            (0 = dense side unchanged).
        min_agreeing: feedback documents that must be in both sides' top
            ``agreement_depth`` for the pass to run (0 = always run).
        agreement_depth: depth of the agreement check.

    Example:
        >>> PseudoRelevanceFeedback()  # the default, chosen by leave-one-dataset-out
        PseudoRelevanceFeedback(docs=3, terms=40, term_weight=0.3, vector_weight=0.5, min_agreeing=1, agreement_depth=10)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    docs: Int = Field(default=3, ge=1, le=50, description="Feedback documents.")
    terms: Int = Field(default=40, ge=1, le=1000, description="Expansion terms.")
    term_weight: Float = Field(
        default=0.3, ge=0.0, le=1.0, description="Share of the expansion in the BM25 query."
    )
    vector_weight: Float = Field(
        default=0.5, ge=0.0, le=10.0, description="Rocchio weight of the feedback vectors."
    )
    min_agreeing: Int = Field(
        default=1, ge=0, le=50, description="Feedback documents both sides must rank high."
    )
    agreement_depth: Int = Field(
        default=10, ge=1, le=1000, description="Depth of the agreement check."
    )


def agreeing(top: Sequence[str], *rankings: Sequence[str], depth: int) -> int:
    """How many of ``top`` are in the first ``depth`` of every ranking.

    Example:
        >>> agreeing(["a", "b"], ["a", "c", "b"], ["b", "a"], depth=2)
        1
    """
    heads = [set(ranking[:depth]) for ranking in rankings]
    return sum(all(ident in head for head in heads) for ident in top)


# A document as its terms (duplicates kept) or as ``term -> count`` (`BM25Index.term_counts`).
Doc = Sequence[str] | Mapping[str, int]


def rm3_query(
    query_terms: Sequence[str],
    feedback_docs: Sequence[Doc],
    n_terms: int,
    term_weight: float,
) -> dict[str, float]:
    """The RM3 query ``term -> weight`` (weights sum to 1) from tokenized feedback documents
    (term lists, or term counts: the same weights either way).

    Example:
        >>> q = rm3_query(["cat"], [["cat", "purr"], ["cat", "fur", "purr"]], 2, 0.5)
        >>> sorted(q.items())
        [('cat', 0.75), ('purr', 0.25)]
        >>> q == rm3_query(["cat"], [{"cat": 1, "purr": 1}, {"cat": 1, "fur": 1, "purr": 1}], 2, 0.5)
        True
    """
    query = _distribution([list(query_terms)])
    if not query:
        return {}
    feedback = _distribution([doc for doc in feedback_docs if doc])
    if not feedback or term_weight <= 0:
        return query
    kept = sorted(feedback.items(), key=lambda item: (-item[1], item[0]))[:n_terms]
    total = sum(p for _, p in kept)
    mixed = {term: (1.0 - term_weight) * p for term, p in query.items()}
    for term, p in kept:
        mixed[term] = mixed.get(term, 0.0) + term_weight * p / total
    return mixed


def _distribution(docs: Sequence[Doc]) -> dict[str, float]:
    """Mean over ``docs`` of each document's term distribution ``tf / |D|``."""
    out: dict[str, float] = {}
    counted = [doc if isinstance(doc, Mapping) else Counter(doc) for doc in docs if doc]
    for counts in counted:  # Counter counts in C: feedback docs can be long
        share = 1.0 / (sum(counts.values()) * len(counted))
        for term, count in counts.items():
            out[term] = out.get(term, 0.0) + count * share
    return out


def rocchio_query(
    query: Sequence[float], feedback: Sequence[Sequence[float]], weight: float
) -> np.ndarray:
    """``q / |q| + weight * mean(d / |d|)`` over the feedback vectors (float64).

    Example:
        >>> rocchio_query([1.0, 0.0], [[0.0, 2.0]], 0.5).tolist()
        [1.0, 0.5]
    """
    q = _unit(np.asarray(query, dtype=np.float64))
    if not len(feedback) or weight <= 0:
        return q
    docs = np.asarray(feedback, dtype=np.float64)
    norms = np.linalg.norm(docs, axis=1, keepdims=True)
    return q + weight * (docs / np.where(norms > 0, norms, 1.0)).mean(axis=0)


def cosine_scores(query: np.ndarray, vectors: Sequence[Sequence[float]]) -> list[float]:
    """Cosine of ``query`` with each vector (0 for a zero vector)."""
    if not len(vectors):
        return []
    mat = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(mat, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    dots = mat @ query
    return [float(x) for x in np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
