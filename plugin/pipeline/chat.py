"""Conversations over a `RagPipeline`: condense a follow-up, retrieve, answer, remember.

One turn is a generator of steps (`_turn_steps`): it yields what it needs done (a retrieval,
an LLM call, a token to emit, the turn to save) and receives the result. `ChatEngine.stream`
and `ChatEngine.astream` only perform those steps, sync or async; every decision is shared.

**Condensing a follow-up.** With an LLM, the follow-up and the kept history go through
LlamaIndex's condense-question prompt. Without one (or when that call fails) the rule is
`ragdrop.pipeline.chat_prompts.condense_question`: a message is a follow-up when the conversation has earlier turns and
the message has a referring word (it, they, this, that, ...), starts with a continuation
(and, but, also, what about, ...), or has at most three content words none of which is a
name (a capital past the first word, or a digit: "What is BM25?" is a new topic); it gets the
content words of the earlier turns' standalone questions appended (newest turn first, at
most eight, none it already has), so "and what language is it written in?" after "tell me
about Qdrant" retrieves with "... Qdrant".

**Answers.** Without an LLM the answer is the pipeline's extractive answer
(``answer_mode: "extractive"``). With one, the prompt numbers the retrieved passages and
asks for ``[n]`` citations; an LLM call that fails is retried once, then the extractive
answer is returned with ``answer_mode: "extractive-fallback"`` and ``fallback_reason``
(the error's type; never its text). When streaming, a failure after tokens were sent is not
retried (the client would see them twice): the final event's answer replaces them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.chat_engine.condense_question import DEFAULT_TEMPLATE
from llama_index.core.llms import LLM
from llama_index.core.vector_stores.types import MetadataFilters

from ragdrop.pipeline.chat_prompts import (
    answer_prompt,
    citations,
    condense_question,
    content_words,
    history_text,
    is_follow_up,
)
from ragdrop.pipeline.conversations import ConversationStore, Turn, UnknownConversationError
from ragdrop.pipeline.llm_streams import stop_stream, streamed_responses
from ragdrop.pipeline.rag import RagAnswer, RagPipeline, Source

MAX_MESSAGE_CHARS = 2_000


class MessageTooLongError(ValueError):
    """A chat message over the engine's ``max_message_chars``."""


@dataclass
class ChatReply:
    """One answered turn of a conversation."""

    conversation_id: str
    turn: int
    message: str
    standalone_question: str
    answer: str
    answer_mode: str
    sources: list[Source]
    citations: list[int]
    fallback_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (sources as `RagAnswer.to_dict` gives them)."""
        return asdict(self)


@dataclass(frozen=True)
class TokenEvent:
    """Text of the answer as it is produced (the extractive answer comes in one)."""

    text: str


@dataclass(frozen=True)
class FinalEvent:
    """The turn is saved: the whole reply with its sources."""

    reply: ChatReply


ChatEvent = TokenEvent | FinalEvent


# -- steps a turn yields; the drivers perform them ------------------------------------------
@dataclass(frozen=True)
class _Retrieve:
    question: str
    top_k: int | None
    filters: MetadataFilters | None


@dataclass(frozen=True)
class _Complete:
    prompt: str
    stream: bool


@dataclass(frozen=True)
class _Save:
    conversation_id: str | None
    turn: Turn


@dataclass(frozen=True)
class _Failed:
    """An LLM call that raised (``streamed``: after some of its tokens were emitted)."""

    reason: str
    streamed: bool = False


_Step = _Retrieve | _Complete | _Save | TokenEvent
_Turn = Generator[_Step, Any, ChatReply]


@dataclass(frozen=True)
class PreparedTurn:
    """A checked message with its conversation's kept turns (`ChatEngine.prepare`)."""

    conversation_id: str | None
    message: str
    history: list[Turn]
    top_k: int | None
    filters: MetadataFilters | None


class ChatEngine:
    """Multi-turn chat with citations over a `RagPipeline`, conversations in ``store``.

    Args:
        pipeline: retrieves the passages (and writes the extractive answer).
        store: keeps each conversation's turns (`SqliteConversationStore` by default in
            ``ragdrop serve``).
        llm: any LlamaIndex LLM to condense follow-ups and write answers; None = extractive.
        retrieval_guard: a context manager factory held around each retrieval (the server's
            read lock, so ingestion batches do not interleave with a question).
        max_message_chars: longer messages raise `MessageTooLongError`.

    Example:
        >>> import tempfile  # doctest: +SKIP
        >>> engine = ChatEngine(pipeline, SqliteConversationStore(tmp))  # doctest: +SKIP
        >>> first = engine.chat("tell me about Qdrant")  # doctest: +SKIP
        >>> engine.chat("what is it written in?", first.conversation_id)  # doctest: +SKIP
    """

    def __init__(
        self,
        pipeline: RagPipeline,
        store: ConversationStore,
        *,
        llm: LLM | None = None,
        retrieval_guard: Callable[[], AbstractContextManager[object]] | None = None,
        max_message_chars: int = MAX_MESSAGE_CHARS,
    ) -> None:
        if not isinstance(pipeline, RagPipeline):
            raise TypeError(f"pipeline must be a RagPipeline, got {type(pipeline).__name__}")
        if not isinstance(store, ConversationStore):
            raise TypeError(f"store must implement ConversationStore, got {type(store).__name__}")
        if llm is not None and not isinstance(llm, LLM):
            raise TypeError(f"llm must be a LlamaIndex LLM or None, got {type(llm).__name__}")
        if isinstance(max_message_chars, bool) or not isinstance(max_message_chars, int):
            raise TypeError(f"max_message_chars must be an int, got {max_message_chars!r}")
        if max_message_chars < 1:
            raise ValueError(f"max_message_chars must be >= 1, got {max_message_chars}")
        self.pipeline = pipeline
        self.store = store
        self.llm = llm
        self.max_message_chars = max_message_chars
        self._guard = retrieval_guard or nullcontext

    # -- shared logic -------------------------------------------------------------------
    def prepare(
        self,
        message: str,
        conversation_id: str | None = None,
        top_k: int | None = None,
        filters: MetadataFilters | None = None,
    ) -> PreparedTurn:
        """Check the message and load the history (raises before anything is streamed).

        Raises ValueError for an empty message, `MessageTooLongError` for a long one, and
        `UnknownConversationError` for an unknown or expired ``conversation_id``.
        """
        if not isinstance(message, str) or not message.strip():
            raise ValueError("message must be a non-empty string")
        if len(message) > self.max_message_chars:
            raise MessageTooLongError(
                f"message has {len(message)} characters; the limit is {self.max_message_chars}"
            )
        history: list[Turn] = []
        if conversation_id is not None:
            found = self.store.turns(conversation_id)
            if found is None:
                raise UnknownConversationError(conversation_id)
            history = found
        return PreparedTurn(conversation_id, message.strip(), history, top_k, filters)

    def _turn_steps(self, turn: PreparedTurn, stream: bool) -> _Turn:
        started = time.perf_counter()
        earlier = [str(t.get("standalone_question", t.get("message", ""))) for t in turn.history]
        standalone = condense_question(turn.message, earlier)
        if self.llm is not None and turn.history:
            prompt = DEFAULT_TEMPLATE.format(
                chat_history=history_text(turn.history), question=turn.message
            )
            condensed = yield _Complete(prompt, stream=False)
            if isinstance(condensed, str) and condensed.strip():
                standalone = condensed.strip()
        found: RagAnswer = yield _Retrieve(standalone, turn.top_k, turn.filters)
        answer, mode, reason = found.answer, "extractive", None
        if self.llm is not None:
            prompt = answer_prompt(standalone, found.sources, turn.history)
            written = yield _Complete(prompt, stream)
            if isinstance(written, _Failed) and not written.streamed:
                written = yield _Complete(prompt, stream)  # one retry
            if isinstance(written, _Failed):
                mode, reason = "extractive-fallback", written.reason
            else:
                answer, mode = str(written), "llm"
        if mode != "llm" and stream:
            yield TokenEvent(answer)
        record: Turn = {
            "message": turn.message,
            "standalone_question": standalone,
            "answer": answer,
            "answer_mode": mode,
            "sources": [
                {"ref_doc_id": s.ref_doc_id, "node_id": s.node_id, "score": s.score}
                for s in found.sources
            ],
            "created_at": time.time(),
        }
        if reason is not None:
            record["fallback_reason"] = reason
        conversation_id, number = yield _Save(turn.conversation_id, record)
        timings = {**found.timings, "chat_total": round(time.perf_counter() - started, 6)}
        return ChatReply(
            conversation_id=conversation_id,
            turn=number,
            message=turn.message,
            standalone_question=standalone,
            answer=answer,
            answer_mode=mode,
            sources=found.sources,
            citations=citations(answer, len(found.sources)),
            fallback_reason=reason,
            timings=timings,
        )

    def _save(self, step: _Save) -> tuple[str, int]:
        conversation_id = step.conversation_id or self.store.create()
        return conversation_id, self.store.append(conversation_id, step.turn)

    # -- sync I/O -------------------------------------------------------------------------
    def stream(self, turn: PreparedTurn, *, stream: bool = True) -> Iterator[ChatEvent]:
        """Run a prepared turn: `TokenEvent`s, then one `FinalEvent`."""
        steps = self._turn_steps(turn, stream)
        result: Any = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as done:
                yield FinalEvent(done.value)
                return
            result = None
            if isinstance(step, TokenEvent):
                yield step
            elif isinstance(step, _Retrieve):
                with self._guard():
                    result = self.pipeline.query(step.question, step.top_k, step.filters)
            elif isinstance(step, _Save):
                result = self._save(step)
            elif step.stream:
                result = yield from self._stream_llm(step.prompt)
            else:
                result = self._complete(step.prompt)

    def _llm(self) -> LLM:
        if self.llm is None:
            raise RuntimeError("this chat engine has no LLM")
        return self.llm

    def _complete(self, prompt: str) -> str | _Failed:
        try:
            return self._llm().complete(prompt).text
        except Exception as exc:  # any LLM or transport error falls back
            return _Failed(type(exc).__name__)

    def _stream_llm(self, prompt: str) -> Generator[TokenEvent, None, str | _Failed]:
        parts: list[str] = []
        chunks: Iterator[Any] = iter(())
        try:
            chunks = self._llm().stream_complete(prompt)
            for chunk in chunks:
                if chunk.delta:
                    parts.append(chunk.delta)
                    yield TokenEvent(chunk.delta)
        except Exception as exc:
            return _Failed(type(exc).__name__, streamed=bool(parts))
        except GeneratorExit:  # the consumer stopped early (a client gone)
            stop_stream(chunks)
            raise
        return "".join(parts)

    def chat(
        self,
        message: str,
        conversation_id: str | None = None,
        top_k: int | None = None,
        filters: MetadataFilters | None = None,
    ) -> ChatReply:
        """Answer ``message`` in conversation ``conversation_id`` (None starts one)."""
        prepared = self.prepare(message, conversation_id, top_k, filters)
        return _final(list(self.stream(prepared, stream=False)))

    # -- async I/O ------------------------------------------------------------------------
    async def astream(self, turn: PreparedTurn, *, stream: bool = True) -> AsyncIterator[ChatEvent]:
        """Async twin of `stream`: the same steps, awaiting the pipeline and the LLM."""
        steps = self._turn_steps(turn, stream)
        result: Any = None
        while True:
            try:
                step = steps.send(result)
            except StopIteration as done:
                yield FinalEvent(done.value)
                return
            result = None
            if isinstance(step, TokenEvent):
                yield step
            elif isinstance(step, _Retrieve):
                result = await self._aretrieve(step)
            elif isinstance(step, _Save):
                result = await asyncio.to_thread(self._save, step)
            elif step.stream:
                parts: list[str] = []
                chunks: Any = None
                try:
                    chunks = await self._llm().astream_complete(step.prompt)
                    async for chunk in chunks:
                        if chunk.delta:
                            parts.append(chunk.delta)
                            yield TokenEvent(chunk.delta)
                    result = "".join(parts)
                except Exception as exc:
                    result = _Failed(type(exc).__name__, streamed=bool(parts))
                except (GeneratorExit, asyncio.CancelledError):
                    for response in streamed_responses(chunks):  # see stop_stream
                        await response.aclose()
                    if chunks is not None and hasattr(chunks, "aclose"):
                        await chunks.aclose()
                    raise
            else:
                try:
                    result = (await self._llm().acomplete(step.prompt)).text
                except Exception as exc:
                    result = _Failed(type(exc).__name__)

    async def _aretrieve(self, step: _Retrieve) -> RagAnswer:
        if self._guard is nullcontext:
            return await self.pipeline.aquery(step.question, step.top_k, step.filters)

        def guarded() -> RagAnswer:  # the guard is a thread lock: held in a worker thread
            with self._guard():
                return self.pipeline.query(step.question, step.top_k, step.filters)

        return await asyncio.to_thread(guarded)

    async def achat(
        self,
        message: str,
        conversation_id: str | None = None,
        top_k: int | None = None,
        filters: MetadataFilters | None = None,
    ) -> ChatReply:
        """Async twin of `chat`."""
        prepared = await asyncio.to_thread(self.prepare, message, conversation_id, top_k, filters)
        return _final([event async for event in self.astream(prepared, stream=False)])


def _final(events: Sequence[ChatEvent]) -> ChatReply:
    last = events[-1]
    if not isinstance(last, FinalEvent):
        raise RuntimeError("a chat turn ended without its final event")
    return last.reply


__all__ = [
    "ChatEngine",
    "ChatEvent",
    "ChatReply",
    "FinalEvent",
    "MessageTooLongError",
    "PreparedTurn",
    "TokenEvent",
    "citations",
    "condense_question",
    "content_words",
    "is_follow_up",
]
