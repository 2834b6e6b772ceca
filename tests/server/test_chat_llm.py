"""``/chat`` with an OpenAI-compatible LLM: a small HTTP server this test starts on 127.0.0.1
stands in for vLLM/Ollama (LlamaIndex's ``OpenAILike`` talks to it over real HTTP)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_index.core import Document
from server_helpers import free_port, serve_in_thread

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.chat import ChatEngine, FinalEvent, TokenEvent
from ragdrop.pipeline.conversations import SqliteConversationStore
from ragdrop.server.app import create_app
from ragdrop.server.chat import llm_from_env, openai_like

pytestmark = pytest.mark.integration

DOCS = {
    "qdrant": "Qdrant is a vector database written in Rust. It stores points with vectors "
    "and payloads.",
    "python": "Python is a programming language created by Guido van Rossum. The language is "
    "written for readability and its reference interpreter is implemented in C.",
    "bm25": "BM25 is a ranking function used by search engines. It scores documents by term "
    "frequency and inverse document frequency.",
}
TOKENS = ["Qdrant ", "is written ", "in Rust ", "[1]."]
CONDENSED = "What language is Qdrant written in?"


class StandInLLM:
    """``POST /v1/chat/completions``, plain and streamed; ``fail`` answers 500."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.fail = False
        self.slow_tokens = 0  # > 0: stream this many tokens, 50 ms apart
        self.sent = 0
        self.broken = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = "\n".join(str(m["content"]) for m in body["messages"])
                outer.prompts.append(prompt)
                if outer.fail:
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "model crashed"}}')
                    return
                text = CONDENSED if "<Standalone question>" in prompt else "".join(TOKENS)
                if body.get("stream") and outer.slow_tokens:
                    try:
                        self._stream(body["model"], ["tick "] * outer.slow_tokens, delay=0.05)
                    except OSError:  # the client went away
                        outer.broken.set()
                    return
                if body.get("stream"):
                    self._stream(body["model"], [text] if text == CONDENSED else TOKENS)
                    return
                reply = {
                    "id": "c1", "object": "chat.completion", "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str, pieces: list[str], delay: float = 0.0) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in [*pieces, None]:
                    delta = {"role": "assistant", "content": piece} if piece else {}
                    chunk = {
                        "id": "c1", "object": "chat.completion.chunk", "created": 0,
                        "model": model,
                        "choices": [{"index": 0, "delta": delta,
                                     "finish_reason": None if piece else "stop"}],
                    }  # fmt: skip
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    outer.sent += 1
                    time.sleep(delay)
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RagPipeline]:
    data_dir = tmp_path_factory.mktemp("server-chat-llm")
    with RagPipeline(PipelineConfig(data_dir=data_dir, collection="chat")) as pipe:
        pipe.ingest([Document(text=text, id_=doc_id) for doc_id, text in DOCS.items()])
        yield pipe


@pytest.fixture()
def llm_server() -> Iterator[StandInLLM]:
    server = StandInLLM()
    yield server
    server.close()


def engine(pipeline: RagPipeline, llm_url: str, tmp_path: Path) -> ChatEngine:
    store = SqliteConversationStore(tmp_path / "conv")
    return ChatEngine(pipeline, store, llm=openai_like(llm_url, "stand-in"))


def test_context_and_history_reach_the_llm(
    pipeline: RagPipeline, llm_server: StandInLLM, tmp_path: Path
) -> None:
    chat = engine(pipeline, llm_server.url, tmp_path)
    first = chat.chat("tell me about Qdrant")
    assert first.answer_mode == "llm" and first.answer == "".join(TOKENS)
    assert first.citations == [1] and first.sources[0].ref_doc_id == "qdrant"
    assert "[1] Qdrant is a vector database written in Rust." in llm_server.prompts[-1]
    second = chat.chat("and what is it written in?", first.conversation_id)
    condense, answer = llm_server.prompts[-2:]
    assert "Human: tell me about Qdrant" in condense and "<Standalone question>" in condense
    assert second.standalone_question == CONDENSED
    assert "Human: tell me about Qdrant" in answer
    assert f"Assistant: {first.answer}" in answer and f"Question: {CONDENSED}" in answer
    assert second.sources[0].ref_doc_id == "qdrant" and second.turn == 2


def test_tokens_stream_back_as_server_sent_events(
    pipeline: RagPipeline, llm_server: StandInLLM
) -> None:
    app = create_app(pipeline, llm=openai_like(llm_server.url, "stand-in"))
    with serve_in_thread(app) as base:
        body = {"message": "tell me about Qdrant", "stream": True}
        with httpx.stream("POST", base + "/chat", json=body, timeout=60) as response:
            text = response.read().decode()
    blocks = [dict(line.split(": ", 1) for line in b.splitlines()) for b in text.split("\n\n") if b]
    names = [b["event"] for b in blocks]
    assert names == ["token"] * len(TOKENS) + ["final", "done"]
    assert [json.loads(b["data"])["text"] for b in blocks[: len(TOKENS)]] == TOKENS
    final = json.loads(blocks[-2]["data"])
    assert final["answer"] == "".join(TOKENS) and final["answer_mode"] == "llm"
    assert final["sources"][0]["ref_doc_id"] == "qdrant" and final["citations"] == [1]


def test_a_client_that_disconnects_stops_the_generation(
    pipeline: RagPipeline, llm_server: StandInLLM
) -> None:
    llm_server.slow_tokens = 400  # 20 s of tokens unless the stream is dropped
    app = create_app(pipeline, llm=openai_like(llm_server.url, "stand-in"))
    with serve_in_thread(app) as base:
        body = {"message": "tell me about Qdrant", "stream": True}
        with httpx.stream("POST", base + "/chat", json=body, timeout=60) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: token"
        assert llm_server.broken.wait(15), "the LLM stream was not closed"
    assert llm_server.sent < 400


def test_a_failing_llm_is_retried_once_then_the_answer_is_extractive(
    pipeline: RagPipeline, llm_server: StandInLLM, tmp_path: Path
) -> None:
    llm_server.fail = True
    reply = engine(pipeline, llm_server.url, tmp_path).chat("tell me about Qdrant")
    assert len(llm_server.prompts) == 2
    assert reply.answer_mode == "extractive-fallback"
    assert reply.fallback_reason == "InternalServerError"
    assert "Qdrant is a vector database written in Rust. [1]" in reply.answer
    assert "model crashed" not in json.dumps(reply.to_dict())


def test_an_llm_that_is_down_falls_back_in_a_stream(pipeline: RagPipeline) -> None:
    app = create_app(pipeline, llm=openai_like(f"http://127.0.0.1:{free_port()}/v1", "none"))
    with serve_in_thread(app) as base:
        body = {"message": "tell me about Qdrant", "stream": True}
        with httpx.stream("POST", base + "/chat", json=body, timeout=60) as response:
            text = response.read().decode()
    final = json.loads(text.split("event: final\ndata: ")[1].split("\n")[0])
    assert final["answer_mode"] == "extractive-fallback"
    assert final["fallback_reason"] == "APIConnectionError"
    assert final["sources"][0]["ref_doc_id"] == "qdrant"


def test_async_chat_takes_the_same_steps(
    pipeline: RagPipeline, llm_server: StandInLLM, tmp_path: Path
) -> None:
    chat = engine(pipeline, llm_server.url, tmp_path)

    async def conversation() -> tuple[Any, list[Any]]:
        first = await chat.achat("tell me about Qdrant")
        turn = chat.prepare("and what is it written in?", first.conversation_id)
        return first, [event async for event in chat.astream(turn)]

    first, events = asyncio.run(conversation())
    assert first.answer_mode == "llm" and first.turn == 1
    assert [e.text for e in events if isinstance(e, TokenEvent)] == TOKENS
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.reply.standalone_question == CONDENSED and final.reply.turn == 2
    assert "Human: tell me about Qdrant" in llm_server.prompts[-1]


def test_async_chat_without_an_llm_is_extractive(pipeline: RagPipeline, tmp_path: Path) -> None:
    chat = ChatEngine(pipeline, SqliteConversationStore(tmp_path / "conv"))
    first = asyncio.run(chat.achat("tell me about Qdrant"))
    second = asyncio.run(chat.achat("and what language is it written in?", first.conversation_id))
    assert second.answer_mode == "extractive" and second.sources[0].ref_doc_id == "qdrant"
    assert "Qdrant" in second.standalone_question


def test_llm_settings_from_the_environment() -> None:
    assert llm_from_env({"RAGDROP_LLM_URL": " "}) is None
    llm = llm_from_env({"RAGDROP_LLM_URL": "http://127.0.0.1:9/v1", "RAGDROP_LLM_MODEL": "m"})
    assert llm is not None and llm.metadata.model_name == "m"
    with pytest.raises(ValueError, match="RAGDROP_LLM_MODEL"):
        llm_from_env({"RAGDROP_LLM_URL": "http://127.0.0.1:9/v1"})
    with pytest.raises(ValueError, match="RAGDROP_LLM_URL"):
        llm_from_env({"RAGDROP_LLM_MODEL": "m"})
    with pytest.raises(ValueError, match="http"):
        llm_from_env({"RAGDROP_LLM_URL": "ftp://x", "RAGDROP_LLM_MODEL": "m"})
