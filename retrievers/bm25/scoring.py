"""BM25 scoring as small pure functions over numpy arrays (the maths of `BM25Index`).

The Okapi variant reproduces ``rank_bm25.BM25Okapi`` exactly: ``idf = ln((N - df + 0.5) /
(df + 0.5))``, and every term whose idf is negative (it occurs in more than half of the
documents) gets ``epsilon * mean(idf over the whole vocabulary)`` instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

IdfVariant = Literal["okapi", "lucene"]
IDF_VARIANTS: tuple[str, ...] = ("okapi", "lucene")


def okapi_idf(n_docs: int, df: np.ndarray) -> np.ndarray:
    """Raw Okapi idf ``ln(N - df + 0.5) - ln(df + 0.5)`` per term (negative for common terms)."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(n_docs - df + 0.5) - np.log(df + 0.5)


def okapi_idf_floor(n_docs: int, df_all: np.ndarray, epsilon: float) -> float:
    """``epsilon * average idf`` over every term in the vocabulary (rank_bm25's floor)."""
    df_all = np.asarray(df_all)
    if df_all.size == 0:
        return 0.0
    return float(epsilon * okapi_idf(n_docs, df_all).mean())


def floored_okapi_idf(n_docs: int, df: np.ndarray, floor: float) -> np.ndarray:
    """Okapi idf with negative values replaced by ``floor`` (zero stays zero, as in rank_bm25)."""
    idf = okapi_idf(n_docs, df)
    return np.where(idf < 0, floor, idf)


def lucene_idf(n_docs: int, df: np.ndarray) -> np.ndarray:
    """Lucene's always-positive idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``."""
    df = np.asarray(df, dtype=np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def length_norm(doc_len: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
    """Per-document ``k1 * (1 - b + b * dl / avgdl)`` (depends on the corpus, not the query)."""
    return k1 * (1.0 - b + b * np.asarray(doc_len, dtype=np.float64) / avgdl)


def saturation(tf: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    """BM25's term-frequency part ``tf * (k1 + 1) / (tf + norm)`` per posting."""
    tf = np.asarray(tf, dtype=np.float64)
    return tf * (k1 + 1.0) / (tf + norm)
