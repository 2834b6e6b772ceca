"""Immutable posting segments of `BM25Index`: built, merged, pruned, and read by document.

A segment holds the postings of a batch of documents sorted by (term id, slot): what a
query reads. `Segment.by_doc` is the same postings sorted by slot, built on first use and
kept with the segment (segments never change): a document's terms without tokenizing it
again (the feedback pass's RM3 reads its feedback documents' term counts this way).

Example:
    >>> seg = build_segment(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([2, 1, 3]))
    >>> seg.doc_terms(1)
    ([0, 1], [1, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Segment:
    """Immutable postings of a batch of documents, sorted by (term id, slot)."""

    terms: np.ndarray  # int32, sorted unique term ids
    offsets: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 slots
    tfs: np.ndarray  # uint16 or uint32 term frequencies

    @property
    def n_postings(self) -> int:
        return int(self.docs.size)

    def posting_terms(self) -> np.ndarray:
        return np.repeat(self.terms, np.diff(self.offsets))

    @cached_property
    def by_doc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sorted slots, term ids, tfs)`` of every posting, ordered by (slot, term id)."""
        order = np.argsort(self.docs, kind="stable")  # term ids stay ascending per slot
        return self.docs[order], self.posting_terms()[order], self.tfs[order]

    def doc_terms(self, slot: int) -> tuple[list[int], list[int]]:
        """Term ids (ascending) and their frequencies in document ``slot`` (empty if none)."""
        slots, terms, tfs = self.by_doc
        lo, hi = np.searchsorted(slots, [slot, slot + 1])
        return terms[lo:hi].tolist(), tfs[lo:hi].tolist()


def build_segment(term_ids: np.ndarray, docs: np.ndarray, tfs: np.ndarray) -> Segment:
    """Segment from postings already sorted by (term id, slot)."""
    if term_ids.size == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Segment(empty, np.zeros(1, dtype=np.int64), empty, np.zeros(0, np.uint16))
    terms, starts = np.unique(term_ids, return_index=True)
    offsets = np.append(starts, term_ids.size).astype(np.int64)
    tf_dtype = np.uint16 if int(tfs.max()) <= np.iinfo(np.uint16).max else np.uint32
    return Segment(terms.astype(np.int32), offsets, docs.astype(np.int32), tfs.astype(tf_dtype))


def merge_segments(older: Segment, newer: Segment) -> Segment:
    terms = np.concatenate([older.posting_terms(), newer.posting_terms()])
    docs = np.concatenate([older.docs, newer.docs])
    tfs = np.concatenate([older.tfs.astype(np.uint32), newer.tfs.astype(np.uint32)])
    # Stable sort by term keeps slots ascending: every slot of `newer` is above `older`'s.
    order = np.argsort(terms, kind="stable")
    return build_segment(terms[order], docs[order], tfs[order])


def drop_slots(segment: Segment, dead: np.ndarray) -> tuple[Segment, np.ndarray]:
    """Segment without the postings of ``dead`` slots, and the term ids those postings had."""
    hit = dead[segment.docs]
    if not hit.any():
        return segment, np.zeros(0, dtype=np.int32)
    terms = segment.posting_terms()
    keep = ~hit
    return build_segment(terms[keep], segment.docs[keep], segment.tfs[keep]), terms[hit]
