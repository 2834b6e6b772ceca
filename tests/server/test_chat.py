"""``/chat`` on a real uvicorn server over the real MiniLM model, without an LLM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_index.core import Document
from server_helpers import serve_in_thread

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.chat import TokenEvent
from ragdrop.pipeline.conversations import SqliteConversationStore
from ragdrop.server.app import create_app
from ragdrop.server.chat import sse_events

pytestmark = pytest.mark.integration

API_KEY = "chat-key-8e1f0a"  # noqa: S105 - a test token
MAX_BODY = 16 * 1024
CHAT_DOCS = {
    "qdrant": "Qdrant is a vector database written in Rust. It stores points with vectors "
    "and payloads. HNSW indexes make approximate nearest neighbour search fast.",
    "redis": "Redis is an in-memory key-value store. It was written in the C language by "
    "Salvatore Sanfilippo and keeps data structures in memory.",
    "python": "Python is a programming language created by Guido van Rossum. The language is "
    "written for readability and its reference interpreter is implemented in C.",
    "bm25": "BM25 is a ranking function used by search engines. It scores documents by term "
    "frequency and inverse document frequency.",
    "bread": "To bake bread, mix flour, water, salt and yeast. Knead the dough for ten "
    "minutes and bake it at 230 degrees.",
}
FOLLOW_UP = "and what language is it written in?"


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RagPipeline]:
    data_dir = tmp_path_factory.mktemp("server-chat")
    with RagPipeline(PipelineConfig(data_dir=data_dir, collection="chat")) as pipe:
        pipe.ingest([Document(text=text, id_=doc_id) for doc_id, text in CHAT_DOCS.items()])
        yield pipe


@pytest.fixture(scope="module")
def url(pipeline: RagPipeline) -> Iterator[str]:
    app = create_app(pipeline, api_key=API_KEY, max_body_bytes=MAX_BODY, max_top_k=10)
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
        yield c


def top(reply: dict[str, Any]) -> str:
    return str(reply["sources"][0]["ref_doc_id"])


def sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_follow_up_is_answered_from_the_earlier_topic(
    client: httpx.Client, pipeline: RagPipeline
) -> None:
    first = client.post("/chat", json={"message": "tell me about Qdrant"})
    assert first.status_code == 200, first.text
    one = first.json()
    assert one["turn"] == 1 and one["answer_mode"] == "extractive"
    assert top(one) == "qdrant"
    assert set(one["sources"][0]) >= {"ref_doc_id", "node_id", "text", "score", "scores"}
    second = client.post(
        "/chat", json={"message": FOLLOW_UP, "conversation_id": one["conversation_id"]}
    )
    assert second.status_code == 200, second.text
    two = second.json()
    assert two["conversation_id"] == one["conversation_id"] and two["turn"] == 2
    assert "Qdrant" in two["standalone_question"]
    assert top(two) == "qdrant"
    assert "Rust" in two["answer"] and 1 in two["citations"]
    # The same words without the conversation find another document first.
    assert pipeline.query(FOLLOW_UP).sources[0].ref_doc_id != "qdrant"

    kept = client.get(f"/chat/{one['conversation_id']}")
    assert kept.status_code == 200
    turns = kept.json()["turns"]
    assert [t["message"] for t in turns] == ["tell me about Qdrant", FOLLOW_UP]
    assert turns[1]["sources"][0]["ref_doc_id"] == "qdrant"
    assert client.delete(f"/chat/{one['conversation_id']}").status_code == 200
    assert client.get(f"/chat/{one['conversation_id']}").status_code == 404
    assert client.delete(f"/chat/{one['conversation_id']}").status_code == 404
    again = {"message": FOLLOW_UP, "conversation_id": one["conversation_id"]}
    assert client.post("/chat", json=again).status_code == 404


def test_unknown_and_malformed_ids(client: httpx.Client) -> None:
    unknown = "x" * 32
    body = {"message": "hello there", "conversation_id": unknown}
    assert client.post("/chat", json=body).status_code == 404
    assert client.get(f"/chat/{unknown}").status_code == 404
    assert client.delete(f"/chat/{unknown}").status_code == 404
    assert client.get("/chat/short").status_code == 422
    bad = {"message": "hello there", "conversation_id": "../../etc/passwd"}
    assert client.post("/chat", json=bad).status_code == 422


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"message": ""}, 422),
        ({"message": "   \n"}, 422),
        ({}, 422),
        ({"message": "q" * 2_001}, 413),
        ({"message": "q" * (MAX_BODY + 1)}, 413),
        ({"message": "what is bm25?", "top_k": True}, 422),
        ({"message": "what is bm25?", "top_k": 11}, 422),
        ({"message": "what is bm25?", "stream": "yes"}, 422),
        ({"message": "what is bm25?", "stream": 1}, 422),
        ({"message": "what is bm25?", "extra": 1}, 422),
        ({"message": 42}, 422),
    ],
)
def test_bad_requests_are_refused(client: httpx.Client, body: Any, status: int) -> None:
    response = client.post("/chat", json=body)
    assert response.status_code == status, response.text
    assert "q" * 100 not in response.text  # the message is never echoed


def test_filters_and_top_k_apply(client: httpx.Client) -> None:
    body = {
        "message": "which language is it written in?",
        "top_k": 1,
        "filters": {"filters": [{"key": "missing", "value": "x"}]},
    }
    response = client.post("/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["sources"] == []
    one = client.post("/chat", json={"message": "What is BM25?", "top_k": 1}).json()
    assert [s["ref_doc_id"] for s in one["sources"]] == ["bm25"]


def test_stream_is_server_sent_events_with_the_sources(client: httpx.Client) -> None:
    with client.stream(
        "POST", "/chat", json={"message": "Tell me about Redis", "stream": True}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        events = sse(r.read().decode())
    assert [name for name, _ in events] == ["token", "final", "done"]
    final = events[1][1]
    assert events[0][1]["text"] == final["answer"]
    assert final["conversation_id"] and final["turn"] == 1
    assert final["sources"][0]["ref_doc_id"] == "redis"
    assert client.get(f"/chat/{final['conversation_id']}").json()["turns"][0]["turn"] == 1


def test_every_chat_route_requires_the_key(url: str) -> None:
    cid = "y" * 32
    for method, path, body in [
        ("POST", "/chat", {"message": "hi there"}),
        ("GET", f"/chat/{cid}", None),
        ("DELETE", f"/chat/{cid}", None),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = httpx.request(method, url + path, json=body, headers=headers)
            assert response.status_code == 401, (method, path)


def test_idle_conversations_expire(pipeline: RagPipeline, tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteConversationStore(tmp_path / "conv", ttl_seconds=600, clock=clock)
    with serve_in_thread(create_app(pipeline, conversations=store)) as base:
        cid = httpx.post(base + "/chat", json={"message": "What is BM25?"}, timeout=60).json()[
            "conversation_id"
        ]
        assert httpx.get(f"{base}/chat/{cid}").status_code == 200
        clock.now += 601
        assert httpx.get(f"{base}/chat/{cid}").status_code == 404
        body = {"message": "why?", "conversation_id": cid}
        assert httpx.post(base + "/chat", json=body, timeout=60).status_code == 404


def test_metrics_label_chat_routes_by_template(client: httpx.Client) -> None:
    cid = client.post("/chat", json={"message": "What is BM25?"}).json()["conversation_id"]
    assert client.get(f"/chat/{cid}").status_code == 200
    text = client.get("/metrics").text
    assert 'endpoint="/chat"' in text and 'endpoint="/chat/{conversation_id}"' in text
    assert cid not in text


def test_a_failure_after_the_stream_started_is_an_error_event() -> None:
    def broken() -> Iterator[Any]:
        yield TokenEvent("partial ")
        raise RuntimeError("secret detail")

    text = b"".join(sse_events(broken(), lambda exc: f"chat failed: {type(exc).__name__}"))
    assert [name for name, _ in sse(text.decode())] == ["token", "error", "done"]
    assert sse(text.decode())[1][1] == {"detail": "chat failed: RuntimeError"}
