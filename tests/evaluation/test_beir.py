"""BEIR loader: judged queries only, grades kept, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_data import TINY_CORPUS, write_beir

from ragdrop.evaluation.beir import load_beir

pytestmark = pytest.mark.unit


def test_loads_corpus_in_order_with_title_and_text(tiny_beir_dir: Path) -> None:
    ds = load_beir(tiny_beir_dir)
    assert ds.name == "tiny"
    assert list(ds.corpus) == list(TINY_CORPUS)
    assert ds.corpus["qdrant"].full_text.startswith("Qdrant Qdrant is a vector database")


def test_keeps_only_queries_with_a_relevant_document(tiny_beir_dir: Path) -> None:
    ds = load_beir(tiny_beir_dir)
    # q5 has no qrels, q6 only a grade-0 judgement
    assert list(ds.queries) == ["q1", "q2", "q3", "q4"]
    assert ds.skipped_queries == 2
    # grades (including judged non-relevant 0s) are kept as ints
    assert ds.qrels["q1"] == {"qdrant": 2, "rust": 0}


def test_head_keeps_first_queries_and_whole_corpus(tiny_beir_dir: Path) -> None:
    ds = load_beir(tiny_beir_dir).head(2)
    assert list(ds.queries) == ["q1", "q2"]
    assert set(ds.qrels) == {"q1", "q2"}
    assert len(ds.corpus) == len(TINY_CORPUS)
    with pytest.raises(ValueError, match="n must be a positive int"):
        ds.head(0)


def test_corpus_hash_changes_with_text(tmp_path: Path) -> None:
    a = load_beir(write_beir(tmp_path / "a")).corpus_sha256()
    corpus = dict(TINY_CORPUS) | {"tea": ("Green tea", "Brew it at seventy degrees.")}
    b = load_beir(write_beir(tmp_path / "b", corpus=corpus)).corpus_sha256()
    assert a != b
    assert a == load_beir(write_beir(tmp_path / "c")).corpus_sha256()


def test_document_without_title_uses_text_only(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "d", corpus={"x": ("", "  body text  ")})
    assert load_beir(root).corpus["x"].full_text == "body text"


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        load_beir(tmp_path)


def test_bad_json_line_is_located(tiny_beir_dir: Path) -> None:
    with (tiny_beir_dir / "corpus.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(ValueError, match=r"corpus.jsonl:9: not valid JSON"):
        load_beir(tiny_beir_dir)


def test_bad_qrels_row_is_located(tiny_beir_dir: Path) -> None:
    with (tiny_beir_dir / "qrels" / "test.tsv").open("a") as handle:
        handle.write("q1\tbread\n")
    with pytest.raises(ValueError, match="expected 3 tab-separated columns"):
        load_beir(tiny_beir_dir)


def test_other_split(tiny_beir_dir: Path) -> None:
    (tiny_beir_dir / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq3\ttea\t1\n")
    assert list(load_beir(tiny_beir_dir, split="dev").queries) == ["q3"]
