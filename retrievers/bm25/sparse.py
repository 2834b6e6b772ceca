"""BM25 as Qdrant sparse vectors: our tokenizer's term weights, IDF applied by the server.

Document vectors hold BM25's saturated term frequency
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avg_doc_len))`` and query vectors hold the
query-term counts; a sparse vector configured with ``Modifier.IDF`` multiplies each query term
by Qdrant's ``ln(1 + (N - df + 0.5) / (df + 0.5))``. Same signature as LlamaIndex's
``sparse_doc_fn``/``sparse_query_fn``.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from ragdrop.retrievers.bm25.scoring import length_norm, saturation
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

SparseBatch = tuple[list[list[int]], list[list[float]]]
SparseEncoderFn = Callable[[list[str]], SparseBatch]


class SparseFunctions(TypedDict):
    """The ``sparse_doc_fn``/``sparse_query_fn`` keyword arguments of a hybrid Qdrant store."""

    sparse_doc_fn: SparseEncoderFn
    sparse_query_fn: SparseEncoderFn


def term_index(term: str) -> int:
    """Stable sparse index of a term (CRC32, identical in every process and machine)."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def _sparse(
    counts: Counter[int], weights: np.ndarray | None = None
) -> tuple[list[int], list[float]]:
    ids = sorted(counts)
    if weights is None:
        return ids, [float(counts[i]) for i in ids]
    by_id = dict(zip(counts, weights.tolist(), strict=True))
    return ids, [by_id[i] for i in ids]


@dataclass(frozen=True)
class BM25SparseEncoder:
    """Callable pair ``doc_fn``/``query_fn`` producing BM25 sparse vectors from a tokenizer.

    Args:
        tokenizer: the same tokenizer as the client-side BM25 index.
        k1: term-frequency saturation.
        b: length normalisation.
        avg_doc_len: corpus average document length assumed at encoding time (terms).

    Example:
        >>> enc = BM25SparseEncoder(BM25Tokenizer())
        >>> indices, values = enc.doc_fn(["cats purr"])
        >>> len(indices[0])
        2
    """

    tokenizer: BM25Tokenizer
    k1: float = 1.2  # BM25Index's default, so both fusion modes weigh terms alike
    b: float = 0.75
    avg_doc_len: float = 100.0

    def doc_fn(self, texts: list[str]) -> SparseBatch:
        indices: list[list[int]] = []
        values: list[list[float]] = []
        for terms in self.tokenizer.tokenize_many(list(texts)):
            counts: Counter[int] = Counter(term_index(t) for t in terms)
            norm = length_norm(np.asarray([len(terms)]), self.avg_doc_len, self.k1, self.b)
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            ids, vals = _sparse(counts, saturation(tf, norm, self.k1))
            indices.append(ids)
            values.append(vals)
        return indices, values

    def query_fn(self, texts: list[str]) -> SparseBatch:
        indices: list[list[int]] = []
        values: list[list[float]] = []
        for terms in self.tokenizer.tokenize_many(list(texts)):
            ids, vals = _sparse(Counter(term_index(t) for t in terms))
            indices.append(ids)
            values.append(vals)
        return indices, values


def bm25_sparse_functions(
    tokenizer: BM25Tokenizer | None = None, avg_doc_len: float = 100.0
) -> SparseFunctions:
    """``sparse_doc_fn``/``sparse_query_fn`` for a hybrid Qdrant store (``fusion="qdrant"``).

    Example:
        >>> fns = bm25_sparse_functions()
        >>> indices, values = fns["sparse_query_fn"](["qdrant sparse vectors"])
        >>> len(indices[0]) == len(values[0]) > 0
        True
    """
    encoder = BM25SparseEncoder(tokenizer or BM25Tokenizer(), avg_doc_len=avg_doc_len)
    return {"sparse_doc_fn": encoder.doc_fn, "sparse_query_fn": encoder.query_fn}
