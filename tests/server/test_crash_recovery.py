"""SIGKILL the server in the middle of an ingestion job, restart it: every document once."""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_index.core import Document
from server_helpers import ServerProcess, wait_for_job

from ragdrop.pipeline import PipelineConfig, RagPipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORDS = (
    "river mountain engine protocol garden violin harbour theorem glacier lantern compiler "
    "orchard satellite canyon ledger turbine meadow cipher falcon quarry"
).split()


def make_corpus(n: int = 24) -> list[dict[str, Any]]:
    """Deterministic documents of several sentences, so each one makes several chunks."""
    documents = []
    for i in range(n):
        sentences = [
            f"Document {i} sentence {j} mentions the {WORDS[(i + j) % len(WORDS)]} and the "
            f"{WORDS[(i * 7 + j * 3) % len(WORDS)]} near the {WORDS[(i * 3 + j) % len(WORDS)]}."
            for j in range(8)
        ]
        documents.append({"id": f"doc-{i:03d}", "text": " ".join(sentences), "metadata": {"n": i}})
    return documents


def stored_chunks(qdrant_path: Path, collection: str) -> collections.Counter[tuple[str, str]]:
    """(document id, chunk text) of every point in the collection, with multiplicity."""
    import json

    from ragdrop.vector_stores import embedded_client

    client = embedded_client(qdrant_path)  # the engine the server wrote with (Edge by default)
    try:
        found: collections.Counter[tuple[str, str]] = collections.Counter()
        offset = None
        while True:
            points, offset = client.scroll(
                collection_name=collection, limit=256, offset=offset, with_payload=True
            )
            for point in points:
                payload = point.payload or {}
                node = json.loads(payload["_node_content"])
                found[(str(payload["doc_id"]), node["text"])] += 1
            if offset is None:
                return found
    finally:
        client.close()


def test_kill_during_ingestion_then_restart_indexes_every_document_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = {
        "RAGDROP_DATA_DIR": str(data_dir),
        "RAGDROP_COLLECTION": "crash",
        "RAGDROP_CHUNK_SIZE": "64",
        "RAGDROP_CHUNK_OVERLAP": "8",
        "RAGDROP_INGEST_BATCH_SIZE": "2",
    }
    corpus = make_corpus()
    server = ServerProcess(settings, tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            job_id = client.post("/documents", json={"documents": corpus}).json()["job_id"]
            deadline = time.monotonic() + 300
            state = client.get(f"/jobs/{job_id}").json()
            while state["processed"] < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
                state = client.get(f"/jobs/{job_id}").json()
            server.kill()
    finally:
        server.kill()
    assert state["status"] == "running"
    assert 0 < state["processed"] < len(corpus), "the kill must land in the middle of the job"

    # Restarted through the app factory that multi-worker serving uses: both paths are covered.
    restarted = ServerProcess(settings, tmp_path / "server.log", cli=False)
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as client:
            final = wait_for_job(client, job_id, timeout=600)
            answer = client.post("/query", json={"question": "Document 7 sentence 2"}).json()
    finally:
        restarted.stop()
    assert final["status"] == "done", final
    assert final["attempts"] == 2
    assert final["processed"] == len(corpus)
    assert answer["sources"]
    assert not (data_dir / "jobs" / f"{job_id}.docs.json").exists()

    # The reference: the same documents chunked by the same pipeline settings, no crash.
    config = PipelineConfig(
        data_dir=tmp_path / "reference", collection="crash", chunk_size=64, chunk_overlap=8
    )
    with RagPipeline(config) as reference:
        documents = [Document(id_=d["id"], text=d["text"], metadata=d["metadata"]) for d in corpus]
        nodes = reference.components.node_parser.get_nodes_from_documents(documents)
    expected = collections.Counter((node.ref_doc_id or "", node.text) for node in nodes)
    assert sum(expected.values()) > len(corpus), "documents should span several chunks"

    stored = stored_chunks(data_dir / "qdrant", "crash")
    missing = expected - stored
    duplicated = stored - expected
    assert not missing, f"{len(missing)} chunks missing, e.g. {list(missing)[:2]}"
    assert not duplicated, f"{len(duplicated)} extra chunks, e.g. {list(duplicated)[:2]}"
