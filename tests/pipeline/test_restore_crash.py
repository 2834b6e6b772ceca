"""A restore never leaves a mixed index: real `ragdrop restore` processes, SIGKILLed at random.

The live index holds the "old" documents, the backup the "new" ones. After every kill, the
next open of the data dir (what any pipeline does under its lock) must find exactly the old
set or exactly the new set, with the manifest describing the same documents, and no
half-built folder left behind.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from ragdrop.core.locks import DataDirBusyError, DataDirLock
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.restore import (
    JOURNAL,
    MANIFEST_COPY,
    RestoreError,
    recover_data_dir,
    restore_data_dir,
)
from ragdrop.vector_stores import CachedQdrantVectorStore, embedded_client

DIM = 16
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _nodes(prefix: str, n_docs: int, chunks: int = 3) -> list[TextNode]:
    rng = np.random.default_rng(len(prefix) * 1000 + n_docs)
    nodes = []
    for d in range(n_docs):
        for c in range(chunks):
            node = TextNode(
                text=f"{prefix} document {d} chunk {c}",
                id_=f"{prefix}-{d}-{c}",
                embedding=rng.normal(size=DIM).tolist(),
            )
            node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"{prefix}-{d}")
            nodes.append(node)
    return nodes


def _manifest(prefix: str, n_docs: int) -> dict[str, object]:
    docs = {f"{prefix}-{d}": f"hash-{prefix}-{d}" for d in range(n_docs)}
    return {"version": 1, "fingerprint": {}, "documents": docs}


def _write_index(path: Path, nodes: list[TextNode]) -> None:
    client = embedded_client(path, engine="edge")
    try:
        CachedQdrantVectorStore("ragdrop", client=client).add(nodes)
    finally:
        client.close()


def _state(config: PipelineConfig) -> tuple[set[str], set[str]]:
    """(documents of the points, documents of the manifest) after recovery."""
    with DataDirLock(config.data_dir):
        recover_data_dir(config)
    client = embedded_client(config.qdrant_path, engine="edge")
    try:
        store = CachedQdrantVectorStore("ragdrop", client=client)
        docs = {n.ref_doc_id for n in store.iter_nodes() if n.ref_doc_id}
    finally:
        client.close()
    manifest = json.loads(config.manifest_path.read_text()) if config.manifest_path.exists() else {}
    return docs, set(manifest.get("documents", {}))


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of 300 "new" documents (900 points) with its manifest."""
    root = tmp_path_factory.mktemp("backup")
    source = root / "source"
    _write_index(source, _nodes("new", 300))
    client = embedded_client(source, engine="edge")
    try:
        CachedQdrantVectorStore("ragdrop", client=client).backup(root / "backup")
    finally:
        client.close()
    (root / "backup" / MANIFEST_COPY).write_text(json.dumps(_manifest("new", 300)))
    return root / "backup"


def _fresh_data_dir(path: Path) -> PipelineConfig:
    config = PipelineConfig(data_dir=path, cache=False)
    path.mkdir(mode=0o700)
    _write_index(config.qdrant_path, _nodes("old", 40))
    config.manifest_path.write_text(json.dumps(_manifest("old", 40)))
    return config


def _restore_cmd(src: Path, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ragdrop.cli.main",
        "restore",
        str(src),
        "--data-dir",
        str(data_dir),
    ]


OLD = {f"old-{d}" for d in range(40)}
NEW = {f"new-{d}" for d in range(300)}


@pytest.mark.slow
@pytest.mark.integration
def test_restore_killed_at_random_moments_is_old_or_new(tmp_path: Path, backup: Path) -> None:
    config = _fresh_data_dir(tmp_path / "data")
    start = time.perf_counter()
    done = subprocess.run(_restore_cmd(backup, config.data_dir), env=ENV, capture_output=True)
    full = time.perf_counter() - start
    assert done.returncode == 0, done.stderr.decode()
    assert _state(config) == (NEW, NEW)
    rng = random.Random(14)
    outcomes = {"old": 0, "new": 0}
    kills = 20
    for i in range(kills):
        config = _fresh_data_dir(tmp_path / f"data-{i}")
        process = subprocess.Popen(
            _restore_cmd(backup, config.data_dir),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, full * 1.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        points, manifest = _state(config)
        assert (points, manifest) in ((OLD, OLD), (NEW, NEW)), f"kill {i}: mixed index"
        outcomes["old" if points == OLD else "new"] += 1
        leftovers = [p.name for p in config.data_dir.iterdir() if ".restore-" in p.name]
        assert not leftovers and not (config.data_dir / JOURNAL).exists()
        assert not any(p.name.startswith("qdrant.old-") for p in config.data_dir.iterdir())
    print(f"{kills} kills over {full:.1f} s restores: {outcomes}")
    assert outcomes["old"] > 0  # the kills did land before the switch


@pytest.mark.integration
def test_a_rejected_restore_changes_nothing(tmp_path: Path, backup: Path) -> None:
    config = _fresh_data_dir(tmp_path / "data")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(backup):
        (broken / name).write_bytes((backup / name).read_bytes())
    points = broken / "points.jsonl"
    lines = points.read_text().splitlines(keepends=True)
    points.write_text("".join(lines[: len(lines) // 2]))  # truncated export
    done = subprocess.run(_restore_cmd(broken, config.data_dir), env=ENV, capture_output=True)
    assert done.returncode != 0 and b"Traceback" not in done.stderr
    assert b"incomplete or corrupt" in done.stderr
    assert _state(config) == (OLD, OLD)

    # A manifest that claims documents the export does not hold is refused too.
    for name in os.listdir(backup):
        (broken / name).write_bytes((backup / name).read_bytes())
    claims = _manifest("new", 300)
    claims["documents"]["ghost"] = "hash"  # type: ignore[index]
    (broken / MANIFEST_COPY).write_text(json.dumps(claims))
    with pytest.raises(RestoreError, match="ghost"), DataDirLock(config.data_dir):
        restore_data_dir(config, broken)
    assert _state(config) == (OLD, OLD)


@pytest.mark.integration
def test_one_writer_per_data_dir(tmp_path: Path) -> None:
    config = _fresh_data_dir(tmp_path / "data")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from ragdrop.core.locks import DataDirLock; "
            f"DataDirLock({str(config.data_dir)!r}).acquire(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(DataDirBusyError, match=f"in use by process {holder.pid}"):
            DataDirLock(config.data_dir).acquire()
        # The real CLI refuses at once, in one line, and changes nothing.
        done = subprocess.run(
            _restore_cmd(tmp_path, config.data_dir), env=ENV, capture_output=True, timeout=120
        )
        assert done.returncode != 0 and b"Traceback" not in done.stderr
        assert f"in use by process {holder.pid}".encode() in done.stderr
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the killed holder's lock: the data dir opens again.
    with DataDirLock(config.data_dir):
        pass
    assert _state(config) == (OLD, OLD)
