"""Incremental inverted index with rank_bm25-identical BM25 scores and a safe on-disk format."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragdrop.core import validation as check
from ragdrop.core.copying import deep_copy_object
from ragdrop.core.files import building_dir
from ragdrop.retrievers.bm25.scoring import (
    IDF_VARIANTS,
    floored_okapi_idf,
    length_norm,
    lucene_idf,
    okapi_idf_floor,
    saturation,
)
from ragdrop.retrievers.bm25.segments import Segment, build_segment, drop_slots, merge_segments
from ragdrop.retrievers.bm25.storage import (
    BM25StateError,
    StoredIndex,
    read_index,
    write_index,
)
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

# A query as terms (each occurrence counts once) or as ``term -> weight``.
QueryTerms = Sequence[str] | Mapping[str, float]

# A new segment is merged into the previous one while that one is at most this many times
# bigger: segment sizes stay geometric, so a query touches O(log N) segments and an add of
# 1% of the corpus never rewrites the big segment.
MERGE_FACTOR = 4


# rank_bm25.BM25Okapi's parameters: BM25Index(**RANK_BM25) reproduces its scores exactly.
RANK_BM25: dict[str, Any] = {"k1": 1.5, "b": 0.75, "epsilon": 0.25, "idf": "okapi"}


class BM25Index:
    """BM25 over an inverted index: a query costs its postings, not the corpus size.

    The defaults (Lucene's always-positive idf, k1=1.2, b=0.75) are what leave-one-dataset-
    out selected for the hybrid (``docs/QUALITY.md``). With ``RANK_BM25`` (``idf="okapi"``,
    k1=1.5, b=0.75, epsilon=0.25) scores equal ``rank_bm25.BM25Okapi`` on the same tokens,
    including its floor for negative idf (``epsilon`` × the mean idf of the whole
    vocabulary) and repeated query terms counted each time, before and after any sequence
    of `add`/`delete`/`update`.

    Args:
        tokenizer: text → terms, used for documents and queries alike; saved with the index.
        k1: term-frequency saturation.
        b: length normalisation.
        epsilon: Okapi idf floor factor.
        idf: ``"okapi"`` (rank_bm25) or ``"lucene"`` (always positive, as in bm25s/Lucene).

    Example:
        >>> index = BM25Index()
        >>> index.add(["a", "b", "c"], ["cats purr", "dogs bark", "birds sing"])
        >>> index.search("purring cat", top_k=1)[0][0]
        'a'
    """

    def __init__(
        self,
        tokenizer: BM25Tokenizer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        epsilon: float = 0.25,
        idf: str = "lucene",
    ) -> None:
        if tokenizer is not None and not isinstance(tokenizer, BM25Tokenizer):
            raise TypeError(f"tokenizer must be a BM25Tokenizer, got {type(tokenizer).__name__}")
        if not k1 >= 0:
            raise ValueError(f"k1 must be >= 0, got {k1!r}")
        if not 0 <= b <= 1:
            raise ValueError(f"b must be in [0, 1], got {b!r}")
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        if idf not in IDF_VARIANTS:
            raise ValueError(f"idf must be one of {list(IDF_VARIANTS)}, got {idf!r}")
        self.tokenizer = tokenizer or BM25Tokenizer()
        self.k1, self.b, self.epsilon, self.idf = float(k1), float(b), float(epsilon), idf
        self._lock = threading.RLock()
        self._vocab: dict[str, int] = {}
        self._term_names: list[str] = []  # term id -> term
        self._df = np.zeros(0, dtype=np.int64)
        self._keys: list[str | None] = []
        self._slot_of: dict[str, int] = {}
        self._doc_len = np.zeros(0, dtype=np.int64)
        self._total_len = 0
        self._segments: list[Segment] = []
        self._version = 0
        self._identity = uuid.uuid4().hex  # this object, so generations never repeat
        self._cache: tuple[int, float, np.ndarray, float] | None = None

    # ---- introspection -------------------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> BM25Index:
        """An independent index with the same documents (taken under the lock), its own lock."""
        with self._lock:
            fresh = {"_lock": threading.RLock, "_identity": lambda: uuid.uuid4().hex}
            return deep_copy_object(self, memo, fresh=fresh)

    @property
    def generation(self) -> str:
        """Changes with every change of the documents, and differs between index objects
        (a result cached under it is never served after a change; `FusedResultCache`)."""
        return f"{self._identity}:{self._version}"

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    @property
    def ids(self) -> list[str]:
        """Ids of the indexed documents, in insertion order."""
        with self._lock:
            return [k for k in self._keys if k is not None]

    @property
    def n_segments(self) -> int:
        return len(self._segments)

    @property
    def n_terms(self) -> int:
        """Distinct terms in the vocabulary (terms of deleted documents included)."""
        with self._lock:
            return len(self._vocab)

    def memory_bytes(self) -> int:
        """Bytes held by the numpy arrays (postings, lengths, document frequencies)."""
        arrays = [self._df, self._doc_len]
        for seg in self._segments:
            arrays += [seg.terms, seg.offsets, seg.docs, seg.tfs]
            if "by_doc" in seg.__dict__:  # built by `term_counts`
                arrays += list(seg.by_doc)
        return int(sum(a.nbytes for a in arrays))

    # ---- writes --------------------------------------------------------------------------
    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index new documents; raises if an id is already indexed (use `update`)."""
        self.add_tokens(ids, self.tokenizer.tokenize_many(list(texts)))

    def update(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Replace (or add) documents by id."""
        ids = list(ids)
        if len(set(ids)) != len(ids) or len(ids) != len(texts):
            # Checked before deleting anything, so a bad call cannot lose documents.
            raise ValueError("update needs unique ids, one per text")
        tokens = self.tokenizer.tokenize_many(list(texts))
        with self._lock:
            self.delete(ids)
            self.add_tokens(ids, tokens)

    def add_tokens(self, ids: Sequence[str], tokens: Sequence[Sequence[str]]) -> None:
        """Index documents given as already tokenized term lists."""
        ids = list(ids)
        if len(ids) != len(tokens):
            raise ValueError(f"ids and texts differ in length: {len(ids)} != {len(tokens)}")
        for key in ids:
            if not isinstance(key, str):
                raise TypeError(f"document ids must be str, got {type(key).__name__}")
        if len(set(ids)) != len(ids):
            raise ValueError("ids contains duplicates; each document id must appear once")
        if not ids:
            return
        with self._lock:
            taken = [k for k in ids if k in self._slot_of]
            if taken:
                raise ValueError(f"ids already indexed (use update): {taken[:5]!r}")
            vocab = self._vocab
            new_terms: set[str] = set()
            for doc in tokens:
                new_terms.update(doc)
            # Not difference_update(vocab): that walks the whole vocabulary.
            new_terms = {t for t in new_terms if t not in vocab}
            first_id = len(vocab)
            named = sorted(new_terms)
            vocab.update(zip(named, range(first_id, first_id + len(named)), strict=True))
            self._term_names.extend(named)
            lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(ids))
            lookup = vocab.__getitem__
            term_ids = np.fromiter(
                itertools.chain.from_iterable(map(lookup, doc) for doc in tokens),
                dtype=np.int64,
                count=int(lengths.sum()),
            )
            local_docs = np.repeat(np.arange(len(ids), dtype=np.int64), lengths)
            first = len(self._keys)
            n_new = len(ids)
            postings: Segment | None = None
            if term_ids.size:
                # One sort of (term, doc) keys gives sorted postings and term frequencies.
                keys = term_ids * n_new + local_docs
                uniq, tf = np.unique(keys, return_counts=True)
                terms = uniq // n_new
                postings = build_segment(terms, uniq % n_new + first, tf)
            self._keys.extend(ids)
            self._slot_of.update(zip(ids, range(first, first + n_new), strict=True))
            self._doc_len = np.concatenate([self._doc_len, lengths])
            self._total_len += int(lengths.sum())
            if len(vocab) > self._df.size:
                self._df = np.concatenate(
                    [self._df, np.zeros(len(vocab) - self._df.size, dtype=np.int64)]
                )
            if postings is not None:
                self._df[postings.terms] += np.diff(postings.offsets)
                self._segments.append(postings)
                self._merge_tail()
            self._version += 1

    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id (unknown ids are ignored); returns how many were removed."""
        with self._lock:
            slots = [self._slot_of.pop(k) for k in set(ids) if k in self._slot_of]
            if not slots:
                return 0
            dead = np.zeros(len(self._keys), dtype=bool)
            dead[slots] = True
            for s in slots:
                self._keys[s] = None
            self._total_len -= int(self._doc_len[slots].sum())
            self._doc_len[slots] = 0
            kept: list[Segment] = []
            for seg in self._segments:
                seg, gone_terms = drop_slots(seg, dead)
                if gone_terms.size:
                    np.subtract.at(self._df, gone_terms, 1)
                if seg.n_postings:
                    kept.append(seg)
            self._segments = kept
            self._version += 1
            return len(slots)

    def _merge_tail(self) -> None:
        segs = self._segments
        while len(segs) > 1 and segs[-2].n_postings <= MERGE_FACTOR * segs[-1].n_postings:
            newer = segs.pop()
            segs[-1] = merge_segments(segs[-1], newer)

    # ---- scoring -------------------------------------------------------------------------
    def _corpus_stats(self) -> tuple[float, np.ndarray, float]:
        """(avgdl, per-slot length norm, idf floor), recomputed once per write."""
        cache = self._cache
        if cache is not None and cache[0] == self._version:
            return cache[1], cache[2], cache[3]
        n = len(self._slot_of)
        avgdl = self._total_len / n if n else 0.0
        norm = (
            length_norm(self._doc_len, avgdl, self.k1, self.b)
            if avgdl > 0
            else np.zeros(0, dtype=np.float64)
        )
        # rank_bm25 averages idf over the terms present in the corpus now.
        floor = okapi_idf_floor(n, self._df[self._df > 0], self.epsilon) if n else 0.0
        self._cache = (self._version, avgdl, norm, floor)
        return avgdl, norm, floor

    def _idf(self, term_ids: np.ndarray) -> np.ndarray:
        n = len(self._slot_of)
        df = self._df[term_ids]
        if self.idf == "lucene":
            return lucene_idf(n, df)
        return floored_okapi_idf(n, df, self._corpus_stats()[2])

    def _score_postings(self, query: QueryTerms) -> tuple[np.ndarray, np.ndarray]:
        """Slots hit by the query and their summed scores (slots unique, any order).

        A term list counts each occurrence once (rank_bm25); a mapping weights each term.
        """
        vocab = self._vocab
        counts: dict[int, float] = {}
        pairs = query.items() if isinstance(query, Mapping) else ((t, 1.0) for t in query)
        for term, weight in pairs:
            if term in vocab:
                counts[vocab[term]] = counts.get(vocab[term], 0.0) + float(weight)
        avgdl, norm, _ = self._corpus_stats()
        if not counts or avgdl <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        qterms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        qweights = self._idf(qterms) * np.fromiter(counts.values(), dtype=np.float64)
        order = np.argsort(qterms)
        qterms, qweights = qterms[order], qweights[order]
        doc_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        n_hit_terms = 0
        for seg in self._segments:
            pos = np.searchsorted(seg.terms, qterms)
            pos_ok = np.minimum(pos, max(seg.terms.size - 1, 0))
            found = (pos < seg.terms.size) & (seg.terms[pos_ok] == qterms) if seg.terms.size else []
            hit = pos[found]
            if not hit.size:
                continue
            n_hit_terms += int(hit.size)
            # Every posting of every query term in this segment, gathered in one pass.
            starts = seg.offsets[hit].astype(np.int64)
            lengths = seg.offsets[hit + 1].astype(np.int64) - starts
            idx = np.arange(int(lengths.sum())) + np.repeat(
                starts - np.cumsum(lengths) + lengths, lengths
            )
            docs = seg.docs[idx]
            weights = np.repeat(qweights[found], lengths)
            doc_parts.append(docs)
            score_parts.append(weights * saturation(seg.tfs[idx], norm[docs], self.k1))
        if not doc_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        docs = np.concatenate(doc_parts)
        scores = np.concatenate(score_parts)
        if n_hit_terms == 1:  # one posting list: each document once
            return docs, scores
        if docs.size * 8 < len(self._keys):
            slots, inverse = np.unique(docs, return_inverse=True)
            return slots, np.bincount(inverse, weights=scores, minlength=slots.size)
        dense = np.bincount(docs, weights=scores, minlength=len(self._keys))
        present = np.zeros(len(self._keys), dtype=bool)
        present[docs] = True  # a hit holds a query term, whatever its score (even 0)
        slots = np.flatnonzero(present)
        return slots, dense[slots]

    def term_counts(self, key: str) -> dict[str, int] | None:
        """The terms of document ``key`` and their counts, as indexed (None: not indexed).

        Equal to counting ``tokenizer(text)`` of the text it was indexed with, without
        tokenizing it again (the feedback pass reads its documents' terms here).

        Example:
            >>> index = BM25Index()
            >>> index.add(["a"], ["cats purr, cats sleep"])
            >>> index.term_counts("a")
            {'cat': 2, 'purr': 1, 'sleep': 1}
        """
        with self._lock:
            slot = self._slot_of.get(key)
            if slot is None:
                return None
            names = self._term_names
            counts: dict[str, int] = {}
            for seg in self._segments:  # its postings are in one segment
                terms, tfs = seg.doc_terms(slot)
                counts.update(zip([names[t] for t in terms], tfs, strict=True))
            return counts

    def get_scores(self, query: str | QueryTerms) -> np.ndarray:
        """Scores of every indexed document (order of `ids`) — the rank_bm25 ``get_scores``."""
        tokens = self._query_terms(query)
        with self._lock:
            slots, scores = self._score_postings(tokens)
            dense = np.zeros(len(self._keys))
            dense[slots] = scores
            alive = np.fromiter((k is not None for k in self._keys), dtype=bool)
            return dense[alive]

    def _query_terms(self, query: str | QueryTerms) -> QueryTerms:
        if isinstance(query, str):
            return self.tokenizer(query)
        if isinstance(query, Mapping):
            for term, weight in query.items():
                if not isinstance(term, str):
                    raise TypeError(f"query terms must be str, got {type(term).__name__}")
                check.finite_number("query weights", weight, minimum=0)
            return query
        return list(query)

    def search(
        self,
        query: str | QueryTerms,
        top_k: int = 10,
        accept: Callable[[str], bool] | None = None,
    ) -> list[tuple[str, float]]:
        """Best ``top_k`` ``(id, score)`` pairs with score > 0, best first.

        Args:
            query: text (tokenized with the index's tokenizer), a list of terms, or a
                mapping ``term -> weight >= 0`` (an expanded query; weight 1 = one occurrence).
            top_k: how many results at most.
            accept: optional predicate on document ids (metadata filters); only accepted
                documents are returned and ``top_k`` counts accepted ones.
        """
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        tokens = self._query_terms(query)
        with self._lock:
            # Every document holding a query term is a hit, even at score <= 0: in a corpus
            # of 1-3 documents Okapi idf is 0 or negative for the terms they share (#15).
            slots, scores = self._score_postings(tokens)
            keys = self._keys
            results: list[tuple[str, float]] = []
            # Ties are broken by insertion order, so results are deterministic.
            if accept is None and slots.size > top_k:
                part = np.argpartition(-scores, top_k - 1)[:top_k]
                slots, scores = slots[part], scores[part]
            order = np.lexsort((slots, -scores))
            for i in order:
                key = keys[int(slots[i])]
                if key is None or (accept is not None and not accept(key)):
                    continue
                results.append((key, float(scores[i])))
                if len(results) == top_k:
                    break
            return results

    # ---- persistence ---------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "idf": self.idf,
            "tokenizer": self.tokenizer.to_config(),
        }

    def save(self, path: str | Path) -> None:
        """Write the index to directory ``path`` (see `storage`), replaced whole (`swap_dir`)."""
        with building_dir(path) as scratch, self._lock:
            stored = StoredIndex(
                config=self.config(),
                vocab=sorted(self._vocab, key=self._vocab.__getitem__),
                keys=self._keys,
                df=self._df,
                doc_len=self._doc_len,
                total_len=self._total_len,
                segments=[(s.terms, s.offsets, s.docs, s.tfs) for s in self._segments],
            )
            write_index(scratch, stored)

    @classmethod
    def load(cls, path: str | Path) -> BM25Index:
        """Read an index written by `save` (JSON and raw arrays only; every array is checked)."""
        stored = read_index(path)
        config = stored.config
        try:
            index = cls(
                tokenizer=BM25Tokenizer.from_config(config["tokenizer"]),
                k1=config["k1"],
                b=config["b"],
                epsilon=config["epsilon"],
                idf=config["idf"],
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BM25StateError(
                f"BM25 index at {path} has unusable settings in header.json: {exc}; "
                "rebuild the index"
            ) from exc
        index._vocab = {t: i for i, t in enumerate(stored.vocab)}
        index._term_names = list(stored.vocab)
        index._keys = stored.keys
        index._slot_of = {k: i for i, k in enumerate(stored.keys) if k is not None}
        index._df = stored.df
        index._doc_len = stored.doc_len
        index._total_len = stored.total_len
        index._segments = [Segment(*arrays) for arrays in stored.segments]
        return index
