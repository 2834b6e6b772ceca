"""Damaged BM25 state on disk is detected on load and rebuilt from the store (issue 14)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore

from ragdrop.retrievers.bm25.index import BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.storage import BM25StateError
from ragdrop.retrievers.store_sync import load_or_build_bm25

pytestmark = pytest.mark.integration

TOPICS = {
    "volcano": "lava flows from the volcano crater after the eruption",
    "violin": "the violin player tuned each string before the concert",
    "glacier": "a glacier carves the valley as the ice slowly moves",
    "compiler": "the compiler turns source code into machine instructions quickly",
    "harbour": "ships unload containers in the busy harbour every morning",
    "orchard": "apples and pears ripen in the orchard in late summer",
}


def _node(topic: str, text: str, i: int) -> TextNode:
    vector = [float(i + 1), 1.0, 0.5, 0.25]
    return TextNode(
        text=text,
        id_=str(uuid.uuid5(uuid.NAMESPACE_URL, topic)),
        metadata={"topic": topic},
        embedding=vector,
    )


@pytest.fixture()
def store(qdrant_memory: Any) -> QdrantVectorStore:
    vector_store = QdrantVectorStore(collection_name="docs", client=qdrant_memory)
    vector_store.add([_node(t, text, i) for i, (t, text) in enumerate(TOPICS.items())])
    return vector_store


TOPIC_OF = {str(uuid.uuid5(uuid.NAMESPACE_URL, topic)): topic for topic in TOPICS}


def _top_topic(bm25: BM25Retriever, query: str) -> str:
    # Ids, not nodes: a loaded index keeps no texts (the store holds them).
    return TOPIC_OF[bm25.search(query)[0][0]]


def _assert_answers(bm25: BM25Retriever) -> None:
    assert len(bm25.index) == len(TOPICS)
    assert _top_topic(bm25, "lava eruption crater") == "volcano"
    assert _top_topic(bm25, "apples pears ripen") == "orchard"
    assert _top_topic(bm25, "source code machine instructions") == "compiler"


def _zero_bytes(d: Path) -> None:
    (d / "index" / "df.npy").write_bytes(b"")


def _zero_bytes_segment(d: Path) -> None:
    (d / "index" / "seg0_docs.npy").write_bytes(b"")


def _truncated(d: Path) -> None:
    path = d / "index" / "doc_len.npy"
    path.write_bytes(path.read_bytes()[:-9])


def _garbage(d: Path) -> None:
    path = d / "index" / "seg0_tfs.npy"
    path.write_bytes(os.urandom(path.stat().st_size))


def _garbage_same_header(d: Path) -> None:
    # A valid .npy of the right shape and dtype, wrong values: only checksums catch it.
    path = d / "index" / "seg0_tfs.npy"
    tfs = np.load(path)
    np.save(path, np.full_like(tfs, 3), allow_pickle=False)


def _swap(a: str, b: str) -> Callable[[Path], None]:
    def swap(d: Path) -> None:
        pa, pb = d / "index" / a, d / "index" / b
        da, db = pa.read_bytes(), pb.read_bytes()
        pa.write_bytes(db)
        pb.write_bytes(da)

    swap.__name__ = f"swap_{a}_{b}"
    return swap


def _symlinked(d: Path) -> None:
    path = d / "index" / "ids.json"
    copy = d.parent / "ids-copy.json"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)


def _reordered_ids(d: Path) -> None:
    # Two ids swapped: counts all agree, but each would answer for the other's text.
    path = d / "index" / "ids.json"
    ids = json.loads(path.read_text())
    ids[0], ids[1] = ids[1], ids[0]
    path.write_text(json.dumps(ids))


def _ids_missing_one(d: Path) -> None:
    path = d / "index" / "ids.json"
    path.write_text(json.dumps(json.loads(path.read_text())[:-1]))


def _header_garbage(d: Path) -> None:
    (d / "index" / "header.json").write_bytes(b"\x00{not json")


def _header_wrong_types(d: Path) -> None:
    path = d / "index" / "header.json"
    header = json.loads(path.read_text())
    header.update(n_segments="many", k1=[1])
    path.write_text(json.dumps(header))


def _nodes_truncated(d: Path) -> None:
    path = d / "nodes.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _nodes_missing(d: Path) -> None:
    (d / "nodes.jsonl").unlink()


def _retriever_json_garbage(d: Path) -> None:
    (d / "retriever.json").write_text('{"similarity_top_k": "lots", "unknown": 1}')


def _array_missing(d: Path) -> None:
    (d / "index" / "seg0_offsets.npy").unlink()


def _nodes_metadata_changed(d: Path) -> None:
    # Valid JSON, the same ids: a filter on "topic" would answer with the wrong chunk.
    path = d / "nodes.jsonl"
    path.write_text(path.read_text().replace('"volcano"', '"harbour"'))


def _nodes_byte_flipped(d: Path) -> None:
    path = d / "nodes.jsonl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _index_header_k1_changed(d: Path) -> None:
    # A valid header with another k1: every file still matches the header's records.
    path = d / "index" / "header.json"
    header = json.loads(path.read_text())
    header["k1"] = 0.9
    path.write_text(json.dumps(header))


def _retriever_settings_changed(d: Path) -> None:
    path = d / "retriever.json"
    body = json.loads(path.read_text())
    body["settings"]["similarity_top_k"] = 3
    path.write_text(json.dumps(body))


DAMAGES = [
    _zero_bytes,
    _zero_bytes_segment,
    _truncated,
    _garbage,
    _garbage_same_header,
    _swap("df.npy", "doc_len.npy"),
    _swap("seg0_docs.npy", "seg0_terms.npy"),
    _swap("seg0_docs.npy", "seg0_tfs.npy"),
    _symlinked,
    _reordered_ids,
    _ids_missing_one,
    _header_garbage,
    _header_wrong_types,
    _nodes_truncated,
    _nodes_missing,
    _retriever_json_garbage,
    _array_missing,
    _nodes_metadata_changed,
    _nodes_byte_flipped,
    _index_header_k1_changed,
    _retriever_settings_changed,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__.strip("_"))
def test_damaged_state_is_refused_and_rebuilt_from_the_store(
    store: QdrantVectorStore, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    persist_dir = tmp_path / "bm25"
    _assert_answers(load_or_build_bm25(store, persist_dir))  # built and persisted
    _assert_answers(BM25Retriever.from_persist_dir(persist_dir))
    damage(persist_dir)
    with pytest.raises(BM25StateError, match="rebuild"):
        BM25Retriever.from_persist_dir(persist_dir)
    rebuilt = load_or_build_bm25(store, persist_dir)
    _assert_answers(rebuilt)
    # The rebuild was persisted whole: the next start loads it cleanly.
    _assert_answers(BM25Retriever.from_persist_dir(persist_dir))
    assert not (persist_dir / "index" / "ids.json").is_symlink()


def _legacy(index_dir: Path) -> None:
    """Rewrite a saved index as format version 1 (no file checksums)."""
    path = index_dir / "header.json"
    header = json.loads(path.read_text())
    for key in ("files", "n_terms", "n_slots"):
        header.pop(key)
    header["version"] = 1
    path.write_text(json.dumps(header))


def test_legacy_version_1_is_read_and_its_damage_still_detected(tmp_path: Path) -> None:
    index = BM25Index()
    index.add(["a", "b", "c"], ["red apples", "green pears and apples", "blue sky"])
    index.save(tmp_path / "i")
    _legacy(tmp_path / "i")
    assert BM25Index.load(tmp_path / "i").search("apples", top_k=1)[0][0] == "a"
    (tmp_path / "i" / "df.npy").write_bytes(b"")
    with pytest.raises(BM25StateError, match="df.npy"):
        BM25Index.load(tmp_path / "i")
    index.save(tmp_path / "j")
    _legacy(tmp_path / "j")
    df = np.load(tmp_path / "j" / "df.npy")
    np.save(tmp_path / "j" / "df.npy", df + 1, allow_pickle=False)  # disagrees with postings
    with pytest.raises(BM25StateError, match="df.npy does not match"):
        BM25Index.load(tmp_path / "j")


def test_retriever_file_of_the_first_format_is_still_read(
    store: QdrantVectorStore, tmp_path: Path
) -> None:
    """A ``retriever.json`` holding only the settings (before checksums) loads as before."""
    persist_dir = tmp_path / "bm25"
    load_or_build_bm25(store, persist_dir)
    path = persist_dir / "retriever.json"
    path.write_text(json.dumps(json.loads(path.read_text())["settings"]))
    _assert_answers(BM25Retriever.from_persist_dir(persist_dir))
    (persist_dir / "nodes.jsonl").write_bytes(b"")  # its structural checks still hold
    with pytest.raises(BM25StateError, match="disagree"):
        BM25Retriever.from_persist_dir(persist_dir)
