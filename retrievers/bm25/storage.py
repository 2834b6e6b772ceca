"""On-disk format of a `BM25Index`: JSON and raw ``.npy`` arrays in one directory.

``header.json`` (format, version, settings, tokenizer, and the length and SHA-256 of every
other file), ``vocab.json`` (terms by id), ``ids.json`` (document ids by slot, ``null`` for
deleted slots), ``df.npy``, ``doc_len.npy`` and four arrays per segment
(``seg<i>_terms/offsets/docs/tfs.npy``). Nothing is unpickled (``allow_pickle=False``), files
are read without following a symlink, each file is checked against its length and checksum,
and every array against the others (postings against ``df`` and ``doc_len``) before an index
uses it. Anything that does not hold raises `BM25StateError`, a ValueError.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragdrop.core.files import create_file, read_bytes

FORMAT_NAME = "ragdrop-bm25"
# Version 2 adds the length and SHA-256 of every file to the header; version 1 (no
# checksums) is still read, with every structural check.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
SEGMENT_ARRAYS = ("terms", "offsets", "docs", "tfs")
# terms, offsets and docs are signed integers; term frequencies are unsigned.
_KINDS = {"terms": "i", "offsets": "i", "docs": "i", "tfs": "u"}
_CONFIG_KEYS = ("k1", "b", "epsilon", "idf", "tokenizer")


class BM25StateError(ValueError):
    """A persisted BM25 index is missing a part, damaged or inconsistent (rebuild it)."""


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


def _encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def file_record(data: bytes) -> dict[str, Any]:
    """The record that `check_file` checks ``data`` against: its length and SHA-256."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def check_file(name: str, data: bytes, record: object, listed_in: str) -> bytes:
    """``data`` once it matches ``record`` (a `file_record` kept in file ``listed_in``);
    `BM25StateError` naming the file otherwise."""
    if not isinstance(record, dict):
        raise BM25StateError(f"{name} is not listed in {listed_in}")
    if len(data) != record.get("bytes"):
        raise BM25StateError(
            f"{name} disagrees with {listed_in}: it has {len(data)} bytes, {listed_in} "
            f"records {record.get('bytes')!r}"
        )
    if hashlib.sha256(data).hexdigest() != record.get("sha256"):
        raise BM25StateError(f"{name} disagrees with its SHA-256 checksum in {listed_in}")
    return data


def write_index(directory: Path, stored: StoredIndex) -> None:
    """Write ``stored`` into the new, empty ``directory`` (a `building_dir` scratch)."""
    files: dict[str, bytes] = {
        "vocab.json": json.dumps(stored.vocab).encode("utf-8"),
        "ids.json": json.dumps(stored.keys).encode("utf-8"),
        "df.npy": _encode_array(stored.df),
        "doc_len.npy": _encode_array(stored.doc_len),
    }
    for i, segment in enumerate(stored.segments):
        for name, array in zip(SEGMENT_ARRAYS, segment, strict=True):
            files[f"seg{i}_{name}.npy"] = _encode_array(array)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        **stored.config,
        "n_segments": len(stored.segments),
        "total_len": stored.total_len,
        "n_terms": len(stored.vocab),
        "n_slots": len(stored.keys),
        "files": {name: file_record(data) for name, data in files.items()},
    }
    files["header.json"] = json.dumps(header).encode("utf-8")
    for name, data in files.items():
        with create_file(directory / name) as handle:
            handle.write(data)


class _Reader:
    """Reads the files of one index directory, each checked against the header's record."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.records = header.get("files") if header["version"] >= 2 else None
        if self.records is not None and not isinstance(self.records, dict):
            raise BM25StateError("the header's file list is not an object")

    def read(self, name: str) -> bytes:
        data = read_bytes(self.path / name)
        if self.records is not None:
            check_file(name, data, self.records.get(name), "header.json")
        return data

    def json_list(self, name: str) -> list[object]:
        data = self.read(name)
        try:
            value = json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise BM25StateError(f"{name} is not JSON ({exc})") from exc
        if not isinstance(value, list):
            raise BM25StateError(f"{name} does not hold a JSON list")
        return value

    def array(self, name: str, kinds: str) -> np.ndarray:
        data = self.read(name)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise BM25StateError(f"{name} is not a readable .npy array ({exc})") from exc
        if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype.kind not in kinds:
            raise BM25StateError(f"{name} is not a 1-D integer array")
        return array

    def segment(self, i: int, n_terms: int, n_slots: int) -> SegmentArrays:
        terms, offsets, docs, tfs = (
            self.array(f"seg{i}_{name}.npy", _KINDS[name]) for name in SEGMENT_ARRAYS
        )
        if (
            offsets.size != terms.size + 1
            or offsets[0] != 0
            or offsets[-1] != docs.size
            or docs.size != tfs.size
            or bool(np.any(np.diff(offsets) < 0))
            or bool(np.any(np.diff(terms) <= 0))
            or (docs.size and (int(docs.min()) < 0 or int(docs.max()) >= n_slots))
            or (terms.size and (int(terms.min()) < 0 or int(terms.max()) >= n_terms))
        ):
            raise BM25StateError(f"segment {i} is inconsistent")
        return terms, offsets, docs, tfs


def _check_ids(vocab: list[object], keys: list[object]) -> tuple[list[str], list[str | None]]:
    """``vocab`` and ``keys`` once they hold distinct strings (keys: or None for a gap)."""
    terms = [t for t in vocab if type(t) is str]
    if len(terms) != len(vocab) or len(set(terms)) != len(terms):
        raise BM25StateError("vocab.json does not hold distinct terms")
    ids: list[str | None] = [k if type(k) is str else None for k in keys]
    live = [k for k in ids if k is not None]
    if any(k is not None and type(k) is not str for k in keys) or len(set(live)) != len(live):
        raise BM25StateError("ids.json does not hold distinct document ids")
    return terms, ids


def _check_postings(stored: StoredIndex) -> None:
    """Postings must account for exactly ``df``, ``doc_len`` and ``total_len``."""
    n_terms, n_slots = len(stored.vocab), len(stored.keys)
    df = np.zeros(n_terms, dtype=np.int64)
    lengths = np.zeros(n_slots, dtype=np.int64)
    for terms, offsets, docs, tfs in stored.segments:
        df[terms] += np.diff(offsets)
        lengths += np.bincount(docs, weights=tfs, minlength=n_slots).astype(np.int64)
    dead = np.fromiter((k is None for k in stored.keys), dtype=bool, count=n_slots)
    if not np.array_equal(df, stored.df):
        raise BM25StateError("df.npy does not match the postings")
    if not np.array_equal(lengths, stored.doc_len) or bool(np.any(stored.doc_len[dead])):
        raise BM25StateError("doc_len.npy does not match the postings and ids")
    if int(stored.doc_len.sum()) != stored.total_len:
        raise BM25StateError("total_len in header.json does not match doc_len.npy")


def _read(path: Path) -> StoredIndex:
    header = json.loads(read_bytes(path / "header.json").decode("utf-8"))
    if not isinstance(header, dict):
        raise BM25StateError("header.json does not hold a JSON object")
    if header.get("format") != FORMAT_NAME or header.get("version") not in READ_VERSIONS:
        raise BM25StateError(
            f"format {header.get('format')!r} version {header.get('version')!r}; this ragdrop "
            f"reads {FORMAT_NAME!r} versions {list(READ_VERSIONS)}"
        )
    reader = _Reader(path, header)
    vocab, keys = _check_ids(reader.json_list("vocab.json"), reader.json_list("ids.json"))
    if header["version"] >= 2 and (
        header.get("n_terms") != len(vocab) or header.get("n_slots") != len(keys)
    ):
        raise BM25StateError("vocab.json or ids.json disagrees with header.json's counts")
    df = reader.array("df.npy", "i").astype(np.int64)
    doc_len = reader.array("doc_len.npy", "i").astype(np.int64)
    if df.size != len(vocab) or doc_len.size != len(keys):
        raise BM25StateError("df.npy or doc_len.npy disagrees with vocab.json or ids.json")
    n_segments = header["n_segments"]
    if type(n_segments) is not int or n_segments < 0 or type(header["total_len"]) is not int:
        raise BM25StateError("n_segments or total_len in header.json is not a count")
    segments = [reader.segment(i, len(vocab), len(keys)) for i in range(n_segments)]
    stored = StoredIndex(
        config={key: header[key] for key in _CONFIG_KEYS},
        vocab=vocab,
        keys=keys,
        df=df,
        doc_len=doc_len,
        total_len=header["total_len"],
        segments=segments,
    )
    _check_postings(stored)
    return stored


def read_index(path: str | Path) -> StoredIndex:
    """Read what `write_index` wrote in ``path``.

    Raises FileNotFoundError when there is no index there, and `BM25StateError` (a
    ValueError) naming the path, what is wrong and the fix when any part is missing,
    damaged, a symlink or inconsistent with the rest.
    """
    path = Path(path)
    if not (path / "header.json").exists() and not (path / "header.json").is_symlink():
        raise FileNotFoundError(f"no BM25 index at {path} (header.json missing)")
    try:
        return _read(path)
    except (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        EOFError,
        OverflowError,
        AttributeError,
    ) as exc:
        raise BM25StateError(
            f"BM25 index at {path} is unusable: {exc}; rebuild the index "
            "(ragdrop rebuilds it from the vector store when it loads it)"
        ) from exc


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BM25StateError",
    "StoredIndex",
    "check_file",
    "file_record",
    "read_index",
    "write_index",
]
