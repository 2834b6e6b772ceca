"""A settings rebuild never leaves a mixed index: real `ragdrop ingest` processes with changed
chunking, SIGKILLed at random.

The live index holds the "old" documents indexed with the default chunking; the ingest gives
the "new" documents with ``--chunk-size 64``, so it re-indexes into a new index beside the
live one and switches it in. After every kill, the next open of the data dir (what any
pipeline does under its lock) must find exactly the old documents under the old settings or
exactly the new ones under the new settings, and no half-built folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llama_index.core import Document

from ragdrop.core.locks import DataDirLock
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.rag import RagPipeline
from ragdrop.pipeline.rebuild import StagedRebuild
from ragdrop.pipeline.restore import JOURNAL, recover_data_dir
from ragdrop.vector_stores import CachedQdrantVectorStore, embedded_client

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
NEW_CHUNK_SIZE = 64


def _docs(folder: Path, prefix: str, n: int) -> set[str]:
    folder.mkdir()
    for i in range(n):
        text = f"{prefix} document {i} about topic {i % 7}. " * 3
        (folder / f"{prefix}-{i}.txt").write_text(text)
    return {f"{prefix}-{i}.txt" for i in range(n)}


def _ingest(docs: Path, data_dir: Path, *flags: str) -> list[str]:
    return [
        sys.executable, "-m", "ragdrop.cli.main", "ingest", str(docs),
        "--data-dir", str(data_dir), "--no-progress", "--no-cache", *flags,
    ]  # fmt: skip


def _state(data_dir: Path) -> tuple[set[str], set[str], object]:
    """(documents of the points, documents of the manifest, its chunk size) after recovery."""
    config = PipelineConfig(data_dir=data_dir, cache=False)
    with DataDirLock(data_dir):
        recover_data_dir(config)
    client = embedded_client(config.qdrant_path)
    try:
        store = CachedQdrantVectorStore("ragdrop", client=client)
        docs = {n.ref_doc_id for n in store.iter_nodes() if n.ref_doc_id}
    finally:
        client.close()
    manifest = json.loads(config.manifest_path.read_text())
    return docs, set(manifest["documents"]), manifest["fingerprint"]["chunk_size"]


def _leftovers(data_dir: Path) -> list[str]:
    return [
        p.name
        for p in data_dir.iterdir()
        if ".restore-" in p.name or p.name.startswith("qdrant.old-") or p.name == JOURNAL
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, set[str], set[str]]:
    """(a data dir holding the old documents, the new documents' folder, old ids, new ids)."""
    root = tmp_path_factory.mktemp("rebuild")
    old = _docs(root / "old", "old", 30)
    new = _docs(root / "new", "new", 150)
    data_dir = root / "live"
    done = subprocess.run(_ingest(root / "old", data_dir), env=ENV, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return data_dir, root / "new", old, new


@pytest.mark.slow
@pytest.mark.integration
def test_rebuild_killed_at_random_moments_is_old_or_new(
    tmp_path: Path, corpus: tuple[Path, Path, set[str], set[str]]
) -> None:
    live, new_docs, old, new = corpus
    assert _state(live) == (old, old, None)
    data_dir = tmp_path / "complete"
    shutil.copytree(live, data_dir)
    start = time.perf_counter()
    flags = ("--chunk-size", str(NEW_CHUNK_SIZE))
    done = subprocess.run(_ingest(new_docs, data_dir, *flags), env=ENV, capture_output=True)
    full = time.perf_counter() - start
    assert done.returncode == 0, done.stderr.decode()
    assert _state(data_dir) == (new, new, NEW_CHUNK_SIZE)
    assert not _leftovers(data_dir)

    rng = random.Random(14)
    outcomes = {"old": 0, "new": 0, "half-built left": 0}
    kills = 12
    for i in range(kills):
        data_dir = tmp_path / f"data-{i}"
        shutil.copytree(live, data_dir)
        process = subprocess.Popen(
            _ingest(new_docs, data_dir, *flags),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, full * 1.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        outcomes["half-built left"] += bool(_leftovers(data_dir))
        state = _state(data_dir)
        assert state in ((old, old, None), (new, new, NEW_CHUNK_SIZE)), f"kill {i}: mixed index"
        outcomes["old" if state[0] == old else "new"] += 1
        assert not _leftovers(data_dir), f"kill {i}: {_leftovers(data_dir)}"
    print(f"{kills} kills over {full:.1f} s rebuilds: {outcomes}")
    assert outcomes["old"] > 0  # the kills did land before the switch


@pytest.mark.integration
def test_a_failed_rebuild_keeps_the_old_index(tmp_path: Path) -> None:
    """An error while re-indexing (here raised after the first batch) leaves the old index
    answering under the old settings, and nothing of the new one behind."""
    config = PipelineConfig(data_dir=tmp_path / "data", collection="ragdrop", rerank=False)
    old_docs = [Document(text=f"old text {i} about bread", id_=f"old-{i}") for i in range(3)]
    with RagPipeline(config) as pipeline:
        pipeline.ingest(old_docs)
    wider = config.model_copy(update={"chunk_size": NEW_CHUNK_SIZE, "ingest_batch_size": 1})
    new_docs = [Document(text=f"new text {i}", id_=f"new-{i}") for i in range(3)]

    def interrupted(done: int) -> None:
        raise KeyboardInterrupt

    with RagPipeline(wider) as pipeline:
        with pytest.raises(KeyboardInterrupt):
            pipeline.ingest(new_docs, on_batch=interrupted)
        assert not _leftovers(config.data_dir)
    with RagPipeline(config) as pipeline:
        assert set(pipeline.indexed_documents()) == {d.id_ for d in old_docs}
        hits = pipeline.query("bread", top_k=3).sources
        assert {s.ref_doc_id for s in hits} <= {d.id_ for d in old_docs}


@pytest.mark.integration
def test_a_rebuild_that_fails_its_check_changes_nothing(tmp_path: Path) -> None:
    """`StagedRebuild.finish` refuses an index whose point count is not the chunks written."""
    config = PipelineConfig(data_dir=tmp_path / "data", rerank=False, cache=False)
    with RagPipeline(config) as pipeline:
        pipeline.ingest([Document(text="old text about bread", id_="old")])
        parts = pipeline.components
        staged = StagedRebuild(config, parts, {"other": "settings"})
        with pytest.raises(RuntimeError, match="holds 0 points for 3 chunks written"):
            staged.finish(3)
        assert not _leftovers(config.data_dir)
        assert set(pipeline.indexed_documents()) == {"old"}
