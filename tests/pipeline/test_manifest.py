import json
from pathlib import Path

import pytest
from llama_index.core import Document

from ragdrop.pipeline.manifest import IngestManifest, ManifestError, document_hash

pytestmark = pytest.mark.unit


def test_hash_changes_with_text_and_metadata():
    a = Document(text="x", id_="1", metadata={"k": 1})
    assert document_hash(a) == document_hash(Document(text="x", id_="2", metadata={"k": 1}))
    assert document_hash(a) != document_hash(Document(text="y", id_="1", metadata={"k": 1}))
    assert document_hash(a) != document_hash(Document(text="x", id_="1", metadata={"k": 2}))


def test_record_forget_and_reload(tmp_path: Path):
    path = tmp_path / "m.json"
    m = IngestManifest(path, {"model": "a"})
    m.record({"d1": "h1", "d2": "h2"})
    m.forget(["d1"])
    again = IngestManifest(path, {"model": "a"})
    assert again.documents == {"d2": "h2"}
    assert not again.fingerprint_changed
    assert not list(tmp_path.glob(".manifest-*"))  # no temp files left behind


def test_other_fingerprint_reads_as_empty(tmp_path: Path):
    path = tmp_path / "m.json"
    IngestManifest(path, {"model": "a"}).record({"d1": "h1"})
    other = IngestManifest(path, {"model": "b"})
    assert other.documents == {}
    assert other.fingerprint_changed


@pytest.mark.parametrize("body", ["{not json", json.dumps({"version": 99}), json.dumps([1])])
def test_corrupt_manifest_raises_with_fix(tmp_path: Path, body: str):
    path = tmp_path / "m.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ManifestError, match="delete it to re-index"):
        IngestManifest(path, {})
