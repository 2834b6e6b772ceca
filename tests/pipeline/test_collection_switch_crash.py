"""A restore on a Qdrant deployment (a new collection switched in with an alias) never leaves a
mixed collection: real processes restoring into qdrant-client's on-disk local mode, SIGKILLed
at random moments; the next start (`recover_collection`) must find the old documents or the
new ones, with the manifest describing the same, and no staged collection left behind.
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

import numpy as np
import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from qdrant_client import QdrantClient

from ragdrop.pipeline.collection_switch import pending_switch, read_names, recover_collection
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.restore import MANIFEST_COPY
from ragdrop.vector_stores import CachedQdrantVectorStore

DIM = 16
LIVE = "docs"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# Imports first, then says so: the kill lands during the restore, not during start-up.
RESTORE = """
import sys
from pathlib import Path
from qdrant_client import QdrantClient
from ragdrop.pipeline.collection_switch import restore_collection
from ragdrop.pipeline.config import PipelineConfig
qdrant, data_dir, src = sys.argv[1:4]
client = QdrantClient(path=qdrant)
print("ready", flush=True)
restore_collection(PipelineConfig(data_dir=Path(data_dir), collection="docs"), client, Path(src))
client.close()
print("done", flush=True)
"""


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


OLD = {f"old-{d}" for d in range(30)}
NEW = {f"new-{d}" for d in range(120)}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain live collection of 30 "old" documents with its manifest, and a backup of 120
    "new" documents (360 points) with its manifest."""
    root = tmp_path_factory.mktemp("switch")
    client = QdrantClient(path=str(root / "qdrant"))
    try:
        CachedQdrantVectorStore(LIVE, client=client).add(_nodes("old", 30))
        source = CachedQdrantVectorStore("source", client=client)
        source.add(_nodes("new", 120))
        source.backup(root / "backup", snapshot=False)
        source.clear()
    finally:
        client.close()
    (root / "backup" / MANIFEST_COPY).write_text(json.dumps(_manifest("new", 120)))
    (root / "data").mkdir(mode=0o700)
    config = PipelineConfig(data_dir=root / "data", collection=LIVE)
    config.manifest_path.write_text(json.dumps(_manifest("old", 30)))
    return root


def _fresh(template: Path, path: Path) -> PipelineConfig:
    shutil.copytree(template / "qdrant", path / "qdrant")
    shutil.copytree(template / "data", path / "data")
    return PipelineConfig(data_dir=path / "data", collection=LIVE)


def _start(template: Path, path: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-c",
        RESTORE,
        str(path / "qdrant"),
        str(path / "data"),
        str(template / "backup"),
    ]
    with open(path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            command, env=ENV, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line == "ready", (path / "stderr.txt").read_text()[-2000:]
    return process


def _state(path: Path, config: PipelineConfig) -> tuple[set[str], set[str]]:
    """(documents the live name answers, documents of the manifest) after the next start."""
    client = QdrantClient(path=str(path / "qdrant"))
    try:
        recover_collection(client, config)
        assert pending_switch(client, config) is None
        names = read_names(client, LIVE)
        assert set(names.staged) <= {names.target}, names  # no staged collection left
        store = CachedQdrantVectorStore(LIVE, client=client)
        docs = {n.ref_doc_id for n in store.iter_nodes() if n.ref_doc_id}
    finally:
        client.close()
    manifest = json.loads(config.manifest_path.read_text()) if config.manifest_path.exists() else {}
    assert not list(config.data_dir.glob("*.restore-*"))
    return docs, set(manifest.get("documents", {}))


@pytest.mark.slow
@pytest.mark.integration
def test_a_collection_restore_killed_at_random_moments_is_old_or_new(
    tmp_path: Path, template: Path
) -> None:
    config = _fresh(template, tmp_path / "full")
    start = time.perf_counter()
    process = _start(template, tmp_path / "full")
    ready = time.perf_counter()
    assert process.wait(timeout=300) == 0
    full = time.perf_counter() - ready
    assert _state(tmp_path / "full", config) == (NEW, NEW), f"{ready - start:.1f} s start"
    rng = random.Random(14)
    outcomes = {"old": 0, "new": 0}
    kills = 20
    for i in range(kills):
        config = _fresh(template, tmp_path / f"kill-{i}")
        process = _start(template, tmp_path / f"kill-{i}")
        time.sleep(rng.uniform(0.0, full * 1.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        points, manifest = _state(tmp_path / f"kill-{i}", config)
        assert (points, manifest) in ((OLD, OLD), (NEW, NEW)), f"kill {i}: mixed collection"
        outcomes["old" if points == OLD else "new"] += 1
    print(f"{kills} kills over {full:.2f} s restores: {outcomes}")
    assert outcomes["old"] > 0  # the kills did land before the switch
