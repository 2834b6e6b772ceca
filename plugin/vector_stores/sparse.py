"""A dependency-free sparse encoder: hashed term frequencies for Qdrant's IDF modifier.

With ``Modifier.IDF`` on the sparse vector, Qdrant multiplies these term frequencies by
the collection's inverse document frequency at query time, which gives TF-IDF ranking
without a fitted vocabulary. Plug a real BM25 encoder in via ``sparse_doc_fn``.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

_TOKEN = re.compile(r"\w+", re.UNICODE)


def term_index(token: str) -> int:
    """A stable non-negative index for ``token`` (CRC32: same in every process)."""
    return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF


def hashed_term_frequencies(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
    """(indices, values) per text: lower-cased word counts keyed by `term_index`.

    Same signature as LlamaIndex's ``sparse_doc_fn``/``sparse_query_fn``.
    """
    indices: list[list[int]] = []
    values: list[list[float]] = []
    for text in texts:
        counts: Counter[int] = Counter(term_index(t) for t in _TOKEN.findall(text.lower()))
        ordered = sorted(counts.items())
        indices.append([i for i, _ in ordered])
        values.append([float(c) for _, c in ordered])
    return indices, values


__all__ = ["hashed_term_frequencies", "term_index"]
