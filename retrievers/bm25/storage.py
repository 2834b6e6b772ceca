"""On-disk format of a `BM25Index`: JSON and raw ``.npy`` arrays in one directory.

``header.json`` (format, version, settings, tokenizer), ``vocab.json`` (terms by id),
``ids.json`` (document ids by slot, ``null`` for deleted slots), ``df.npy``, ``doc_len.npy``
and four arrays per segment (``seg<i>_terms/offsets/docs/tfs.npy``). Nothing is unpickled
(``allow_pickle=False``), files are read without following a symlink, and every array is
checked against the others before an index uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragdrop.core.files import create_file, open_nofollow, read_json

FORMAT_NAME = "ragdrop-bm25"
FORMAT_VERSION = 1
SEGMENT_ARRAYS = ("terms", "offsets", "docs", "tfs")
# terms, offsets and docs are signed integers; term frequencies are unsigned.
_KINDS = {"terms": "i", "offsets": "i", "docs": "i", "tfs": "u"}
_CONFIG_KEYS = ("k1", "b", "epsilon", "idf", "tokenizer")

SegmentArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class StoredIndex:
    """The state of a `BM25Index` as saved: settings, vocabulary, ids and arrays.

    Args:
        config: ``k1``, ``b``, ``epsilon``, ``idf`` and the tokenizer's config.
        vocab: terms in term-id order.
        keys: document id per slot (None for a deleted slot).
        df: document frequency per term id.
        doc_len: length per slot.
        total_len: sum of the live documents' lengths.
        segments: ``(terms, offsets, docs, tfs)`` per segment.
    """

    config: dict[str, Any]
    vocab: list[str]
    keys: list[str | None]
    df: np.ndarray
    doc_len: np.ndarray
    total_len: int
    segments: list[SegmentArrays]


def write_index(directory: Path, stored: StoredIndex) -> None:
    """Write ``stored`` into the new, empty ``directory`` (a `building_dir` scratch)."""
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        **stored.config,
        "n_segments": len(stored.segments),
        "total_len": stored.total_len,
    }
    for name, value in (("header", header), ("vocab", stored.vocab), ("ids", stored.keys)):
        with create_file(directory / f"{name}.json") as handle:
            handle.write(json.dumps(value).encode("utf-8"))
    arrays = {"df": stored.df, "doc_len": stored.doc_len}
    for i, segment in enumerate(stored.segments):
        arrays.update(zip((f"seg{i}_{n}" for n in SEGMENT_ARRAYS), segment, strict=True))
    for name, array in arrays.items():
        with create_file(directory / f"{name}.npy") as handle:
            np.save(handle, array, allow_pickle=False)


def _array(path: Path, name: str, kinds: str) -> np.ndarray:
    with open_nofollow(path / name, "rb") as handle:
        array = np.load(handle, allow_pickle=False)
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype.kind not in kinds:
        raise ValueError(f"{path / name} is not a 1-D integer array")
    return array


def _segment(path: Path, i: int, n_terms: int, n_slots: int) -> SegmentArrays:
    terms, offsets, docs, tfs = (
        _array(path, f"seg{i}_{name}.npy", _KINDS[name]) for name in SEGMENT_ARRAYS
    )
    if (
        offsets.size != terms.size + 1
        or offsets[-1] != docs.size
        or docs.size != tfs.size
        or (docs.size and int(docs.max()) >= n_slots)
        or (terms.size and int(terms.max()) >= n_terms)
    ):
        raise ValueError(f"{path} segment {i} is inconsistent; rebuild the index")
    return terms, offsets, docs, tfs


def read_index(path: str | Path) -> StoredIndex:
    """Read what `write_index` wrote in ``path``; ValueError when it is not consistent."""
    path = Path(path)
    try:
        header = read_json(path / "header.json")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no BM25 index at {path} (header.json missing)") from exc
    if not isinstance(header, dict):
        header = {}
    if header.get("format") != FORMAT_NAME or header.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} holds format {header.get('format')!r} version {header.get('version')!r};"
            f" this ragdrop reads {FORMAT_NAME!r} version {FORMAT_VERSION}"
        )
    vocab = read_json(path / "vocab.json")
    keys = read_json(path / "ids.json")
    if not isinstance(vocab, list) or not isinstance(keys, list):
        raise ValueError(f"{path} is inconsistent (vocab/ids are not lists); rebuild the index")
    df = _array(path, "df.npy", "i").astype(np.int64)
    doc_len = _array(path, "doc_len.npy", "i").astype(np.int64)
    segments = [_segment(path, i, len(vocab), len(keys)) for i in range(int(header["n_segments"]))]
    if df.size != len(vocab) or doc_len.size != len(keys):
        raise ValueError(f"{path} is inconsistent (vocab/ids sizes); rebuild the index")
    return StoredIndex(
        config={key: header[key] for key in _CONFIG_KEYS},
        vocab=vocab,
        keys=keys,
        df=df,
        doc_len=doc_len,
        total_len=int(header["total_len"]),
        segments=segments,
    )


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "StoredIndex", "read_index", "write_index"]
