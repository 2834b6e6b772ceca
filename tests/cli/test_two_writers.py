"""Two `ragdrop ingest` processes on one data dir: the second is refused at once, in one line,
and nothing of the first is lost; run again afterwards, both document sets are indexed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragdrop.vector_stores import CachedQdrantVectorStore, embedded_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _docs(folder: Path, prefix: str, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"{prefix}-{i}.txt").write_text(f"{prefix} document {i} about topic {i % 7}.")
    return folder


def _ingest(docs: Path, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "ragdrop.cli.main", "ingest", str(docs),
        "--data-dir", str(data_dir), "--no-progress", "--no-cache",
    ]  # fmt: skip


def test_second_writer_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first_docs, second_docs = _docs(tmp_path / "a", "a", 60), _docs(tmp_path / "b", "b", 60)
    first = subprocess.Popen(
        _ingest(first_docs, data_dir), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lock = data_dir / ".ragdrop.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        assert time.monotonic() < deadline, "the first ingest never took the data dir"
        time.sleep(0.05)
    second = subprocess.run(_ingest(second_docs, data_dir), env=ENV, capture_output=True, text=True)
    assert second.returncode != 0
    assert second.stderr.strip().count("\n") == 0 and "Traceback" not in second.stderr
    assert f"in use by process {first.pid}" in second.stderr
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err.decode()

    again = subprocess.run(_ingest(second_docs, data_dir), env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    manifest = json.loads(next(data_dir.glob("manifest-*.json")).read_text())
    assert len(manifest["documents"]) == 120
    client = embedded_client(data_dir / "qdrant")
    try:
        store = CachedQdrantVectorStore("ragdrop", client=client)
        indexed = {node.ref_doc_id for node in store.iter_nodes()}
    finally:
        client.close()
    assert indexed == set(manifest["documents"])  # both sets, each document's points present
