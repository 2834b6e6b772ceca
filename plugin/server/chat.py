"""``/chat``: multi-turn questions with citations, as JSON or Server-Sent Events.

``POST /chat`` answers a message in a conversation (`ragdrop.pipeline.chat.ChatEngine`);
``GET /chat/{id}`` returns the kept turns and ``DELETE /chat/{id}`` forgets them. With
``"stream": true`` the reply is ``text/event-stream``: ``token`` events (``{"text": ...}``),
one ``final`` event (the same body as the JSON reply: ``conversation_id``, ``turn``,
``answer``, ``answer_mode``, ``sources``, ``citations``), then ``done``; a failure after
the stream started is an ``error`` event (``{"detail": ...}``) instead of ``final``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException
from fastapi.params import Depends
from fastapi.responses import JSONResponse, StreamingResponse
from llama_index.core.llms import LLM

from ragdrop.observability.metrics import RagdropMetrics
from ragdrop.pipeline.chat import (
    ChatEngine,
    ChatEvent,
    FinalEvent,
    MessageTooLongError,
    TokenEvent,
)
from ragdrop.pipeline.conversations import UnknownConversationError
from ragdrop.server.schemas import CONVERSATION_ID_PATTERN, ChatRequest

logger = logging.getLogger(__name__)

# Proxies (nginx, most CDNs) must pass events on as they come.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LLM_TIMEOUT_SECONDS = 60.0
_CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)


def llm_from_env(env: Mapping[str, str]) -> LLM | None:
    """An OpenAI-compatible LLM from ``RAGDROP_LLM_URL``, ``RAGDROP_LLM_MODEL`` and
    ``RAGDROP_LLM_API_KEY`` (LlamaIndex's ``OpenAILike``), or None when no URL is set.

    >>> llm_from_env({}) is None
    True
    """
    url = env.get("RAGDROP_LLM_URL", "").strip()
    model = env.get("RAGDROP_LLM_MODEL", "").strip()
    if not url:
        if model:
            raise ValueError("RAGDROP_LLM_MODEL is set without RAGDROP_LLM_URL: set both")
        return None
    if not model:
        raise ValueError(
            "RAGDROP_LLM_URL is set without RAGDROP_LLM_MODEL: name the model it serves"
        )
    return openai_like(url, model, env.get("RAGDROP_LLM_API_KEY") or None)


def openai_like(url: str, model: str, api_key: str | None = None) -> LLM:
    """LlamaIndex's ``OpenAILike`` chat model at ``url`` (``.../v1``); our retry replaces
    the client's own (one retry, then the extractive fallback)."""
    if not re.match(r"^https?://", url):
        raise ValueError(f"llm url must start with http:// or https://, got {url!r}")
    try:
        from llama_index.llms.openai_like import OpenAILike
    except ImportError as exc:
        raise ValueError(
            "an LLM URL needs the OpenAI-compatible client: pip install "
            "llama-index-llms-openai-like"
        ) from exc
    return OpenAILike(
        model=model,
        api_base=url,
        api_key=api_key or "unused",
        is_chat_model=True,
        context_window=8192,
        max_retries=0,
        timeout=LLM_TIMEOUT_SECONDS,
    )


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def sse_events(
    events: Iterator[ChatEvent], on_error: Callable[[Exception], str]
) -> Iterator[bytes]:
    """The Server-Sent Events of a chat turn, ending with ``done``."""
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                yield _sse("token", {"text": event.text})
            elif isinstance(event, FinalEvent):
                yield _sse("final", event.reply.to_dict())
    except Exception as exc:  # headers are sent: report it in the stream
        yield _sse("error", {"detail": on_error(exc)})
    finally:
        _close(events)
    yield _sse("done", {})


async def stop_on_disconnect(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` (advanced in worker threads) as an async stream. When the client
    disconnects, Starlette cancels this; ``chunks`` is then closed, which closes the LLM's
    stream: the generation stops instead of running to its end for nobody."""
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        _close(chunks)  # it waits at a yield (threads are not cancelled): closing is quick


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def add_chat_routes(
    app: FastAPI,
    engine: ChatEngine,
    *,
    dependencies: Sequence[Depends],
    max_top_k: int,
    metrics: RagdropMetrics,
) -> None:
    """Serve the ``/chat`` routes of ``engine`` on ``app``, behind ``dependencies`` (the API
    key). Routes are added to the app itself, not through an included router, so metrics
    label them by their own path template."""
    protected = list(dependencies)

    def failed(exc: Exception) -> str:
        metrics.record_error("server", exc)
        logger.warning("chat failed: %s", type(exc).__name__)
        return f"chat failed: {type(exc).__name__}"

    def check_id(conversation_id: str) -> None:
        if not _CONVERSATION_ID.match(conversation_id):
            raise HTTPException(
                422, detail="conversation_id must be 16 to 128 letters, digits, '-' or '_'"
            )

    @app.post("/chat", response_model=None, dependencies=protected)
    def chat(body: ChatRequest) -> JSONResponse | StreamingResponse:
        if body.top_k is not None and body.top_k > max_top_k:
            raise HTTPException(
                422, detail=f"top_k must be from 1 to {max_top_k}, got {body.top_k}"
            )
        filters = body.filters.to_llama_index() if body.filters else None
        try:
            turn = engine.prepare(body.message, body.conversation_id, body.top_k, filters)
        except UnknownConversationError:
            raise HTTPException(404, detail="no such conversation (unknown or expired)") from None
        except MessageTooLongError as exc:
            raise HTTPException(413, detail=str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        if body.stream:
            events = stop_on_disconnect(sse_events(engine.stream(turn), failed))
            return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
        try:
            final = [e for e in engine.stream(turn, stream=False) if isinstance(e, FinalEvent)]
        except UnknownConversationError:  # deleted or expired while answering
            raise HTTPException(404, detail="no such conversation (unknown or expired)") from None
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        except Exception as exc:
            raise HTTPException(500, detail=failed(exc)) from None
        return JSONResponse(final[-1].reply.to_dict())

    @app.get("/chat/{conversation_id}", dependencies=protected)
    def get_conversation(conversation_id: str) -> dict[str, Any]:
        check_id(conversation_id)
        turns = engine.store.turns(conversation_id)
        if turns is None:
            raise HTTPException(404, detail="no such conversation (unknown or expired)")
        return {"conversation_id": conversation_id, "turns": turns}

    @app.delete("/chat/{conversation_id}", dependencies=protected)
    def delete_conversation(conversation_id: str) -> dict[str, Any]:
        check_id(conversation_id)
        if not engine.store.delete(conversation_id):
            raise HTTPException(404, detail="no such conversation (unknown or expired)")
        return {"deleted": conversation_id}
