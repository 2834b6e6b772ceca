from pathlib import Path

import pytest

from ragdrop.pipeline.documents import DocumentLoadError, load_directory, load_pydoc_topics

pytestmark = pytest.mark.unit


def test_pydoc_topics_are_real_documents_with_stable_ids():
    docs = load_pydoc_topics()
    assert len(docs) > 50
    ids = [d.id_ for d in docs]
    assert len(set(ids)) == len(ids)
    assert "pydoc:with" in ids
    assert all(d.text.strip() for d in docs)


def test_directory_loads_text_and_markdown_recursively(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Title\nSome text.", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("More text.", encoding="utf-8")
    (tmp_path / "ignored.bin").write_bytes(b"\x00\x01")
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    docs = load_directory(tmp_path)
    assert [d.id_ for d in docs] == ["a.md", "sub/b.txt"]
    assert docs[1].metadata["file_name"] == "b.txt"


def test_missing_path_names_the_argument(tmp_path: Path):
    with pytest.raises(DocumentLoadError, match="--docs .*no such file"):
        load_directory(tmp_path / "nowhere")


def test_empty_folder_is_an_error(tmp_path: Path):
    with pytest.raises(DocumentLoadError, match="no .txt"):
        load_directory(tmp_path)


def test_binary_file_is_refused_with_its_name(tmp_path: Path):
    (tmp_path / "x.txt").write_bytes(b"abc\x00def")
    with pytest.raises(DocumentLoadError, match=r"x\.txt: binary"):
        load_directory(tmp_path)


def test_undecodable_file_is_refused_with_its_name(tmp_path: Path):
    (tmp_path / "latin.md").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DocumentLoadError, match=r"latin\.md: not UTF-8"):
        load_directory(tmp_path)
