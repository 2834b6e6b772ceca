"""Stopping an LLM's streamed answer that nobody reads any more (a chat client went away)."""

from __future__ import annotations

import gc
import types

import httpx

_FOLLOWED = (
    types.GeneratorType,
    types.AsyncGeneratorType,
    types.CoroutineType,
    types.FrameType,
    types.CellType,
    tuple,
    list,
)


def stop_stream(chunks: object) -> None:
    """End an LLM stream nobody reads any more, so the LLM stops generating.

    Closing LlamaIndex's generator is not enough: openai's ``Stream`` and its generator form
    a reference cycle, so its HTTP response would stay open until the garbage collector's
    next full collection (a pause of the whole process, so not run here). The open responses
    reachable through the generators' frames are closed instead
    (``tests/server/test_chat_llm.py`` checks that the LLM sees the connection drop).
    """
    for response in streamed_responses(chunks):
        response.close()
    close = getattr(chunks, "close", None)
    if callable(close):
        close()


def streamed_responses(root: object, limit: int = 10_000) -> list[httpx.Response]:
    """The unclosed ``httpx.Response`` objects held by the generator chain ``root``.

    Follows only generators, their frames, closure cells and tuples/lists, plus an object's
    ``response`` attribute: never module globals or other objects' state, so it cannot reach
    another request's stream.
    """
    found: list[httpx.Response] = []
    seen: set[int] = set()
    todo = [root]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, httpx.Response):
            if not obj.is_closed:
                found.append(obj)
        elif isinstance(obj, _FOLLOWED):
            todo.extend(gc.get_referents(obj))
        else:
            response = getattr(obj, "response", None)
            if isinstance(response, httpx.Response):
                todo.append(response)
    return found


__all__ = ["stop_stream", "streamed_responses"]
