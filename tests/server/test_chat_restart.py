"""``/chat`` conversations across server restarts and a damaged database (own data dir)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from llama_index.core import Document
from server_helpers import serve_in_thread

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.conversations import DB_NAME, SqliteConversationStore
from ragdrop.server.app import create_app

pytestmark = pytest.mark.integration

DOCS = {
    "qdrant": "Qdrant is a vector database written in Rust. It stores points with vectors "
    "and payloads.",
    "python": "Python is a programming language created by Guido van Rossum. The language is "
    "written for readability and its reference interpreter is implemented in C.",
    "bm25": "BM25 is a ranking function used by search engines. It scores documents by term "
    "frequency and inverse document frequency.",
}
FOLLOW_UP = "and what language is it written in?"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RagPipeline]:
    data_dir = tmp_path_factory.mktemp("server-chat-restart")
    with RagPipeline(PipelineConfig(data_dir=data_dir, collection="chat")) as pipe:
        pipe.ingest([Document(text=text, id_=doc_id) for doc_id, text in DOCS.items()])
        yield pipe


def test_conversations_survive_a_restart(pipeline: RagPipeline) -> None:
    with serve_in_thread(create_app(pipeline)) as base:
        one = httpx.post(base + "/chat", json={"message": "tell me about Qdrant"}, timeout=60)
    cid = one.json()["conversation_id"]
    with serve_in_thread(create_app(pipeline)) as base:
        assert len(httpx.get(f"{base}/chat/{cid}").json()["turns"]) == 1
        body = {"message": FOLLOW_UP, "conversation_id": cid}
        two = httpx.post(base + "/chat", json=body, timeout=60).json()
    assert two["turn"] == 2 and two["sources"][0]["ref_doc_id"] == "qdrant"


def test_a_damaged_database_is_replaced_and_the_server_starts(
    pipeline: RagPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    directory = pipeline.config.data_dir / "conversations"
    SqliteConversationStore(directory).close()
    for leftover in directory.glob(f"{DB_NAME}-*"):
        leftover.unlink()
    (directory / DB_NAME).write_bytes(b"\x00garbage" * 512)
    with caplog.at_level(logging.WARNING, logger="ragdrop.pipeline.conversations"):
        app = create_app(pipeline)
    assert "was unusable" in caplog.text
    assert (directory / f"{DB_NAME}.corrupt").exists()
    with serve_in_thread(app) as base:
        reply = httpx.post(base + "/chat", json={"message": "What is BM25?"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["sources"][0]["ref_doc_id"] == "bm25"
