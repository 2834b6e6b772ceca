"""Query plans and their two drivers: the only place where sync and async retrieval differ.

A retrieval mode is written once, as a generator (a *plan*) that yields the I/O it needs as
steps and receives their results; `run_sync` sends the steps through the blocking APIs and
`run_async` through the async ones. The vector store's ``Call``/``Op`` drivers work the same
way (``ragdrop.vector_stores.calls``).

Steps:

* `Work`: a function run in this process (BM25 scoring, reading nodes by id);
* `Embed`: a query embedding (``get_query_embedding`` / ``aget_query_embedding``);
* `Retrieve`: a LlamaIndex retriever (``retrieve`` / ``aretrieve``);
* `ClientCall`: a qdrant-client method (on ``aclient`` when there is one, else in a thread);
* `StoreQuery`: a LlamaIndex vector store query (``query`` / ``aquery``);
* `Io`: any call that has a blocking and an async form (a store's cache epoch);
* `Both`: two independent steps or sub-plans; the sync driver overlaps them in a worker
  thread when ``overlap`` is set (the vector side waits on I/O while BM25 runs here).

Example:
    >>> def plan():
    ...     a, b = yield Both(Work(lambda: 1), Work(lambda: 2), overlap=False)
    ...     return a + b
    >>> run_sync(plan(), executor=None)
    3
    >>> import asyncio
    >>> asyncio.run(run_async(plan()))
    3
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import QueryBundle
from llama_index.core.vector_stores.types import BasePydanticVectorStore, VectorStoreQuery
from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.client_base import QdrantBase

from ragdrop.observability.stages import Stage, stage


@dataclass(frozen=True)
class Work:
    """``fn()`` in this process; ``stage`` times it when set."""

    fn: Callable[[], object]
    stage: Stage | None = None


@dataclass(frozen=True)
class Embed:
    """The query embedding of ``text``."""

    embed_model: BaseEmbedding
    text: str
    stage: Stage | None = Stage.EMBED


@dataclass(frozen=True)
class Retrieve:
    """``retriever.retrieve(query)`` / ``aretrieve``."""

    retriever: BaseRetriever
    query: QueryBundle
    stage: Stage | None = Stage.VECTOR


@dataclass(frozen=True)
class ClientCall:
    """``client.<method>(**kwargs)``; async on ``aclient`` when given, else in a thread."""

    client: QdrantBase
    aclient: AsyncQdrantBase | None
    method: str
    kwargs: dict[str, object] = field(default_factory=dict)
    stage: Stage | None = None


@dataclass(frozen=True)
class StoreQuery:
    """``store.query(query)`` / ``aquery``."""

    store: BasePydanticVectorStore
    query: VectorStoreQuery
    stage: Stage | None = Stage.FUSION


@dataclass(frozen=True)
class Io:
    """``call()`` / ``await acall()``: one I/O that has a blocking and an async form."""

    call: Callable[[], object]
    acall: Callable[[], Awaitable[object]]
    stage: Stage | None = None


Plan: TypeAlias = Generator["Step", Any, Any]


@dataclass(frozen=True)
class Both:
    """Two independent steps or sub-plans; the result is ``(first's, second's)``."""

    first: Step | Plan
    second: Step | Plan
    overlap: bool = True


Step: TypeAlias = Work | Embed | Retrieve | ClientCall | StoreQuery | Io | Both


def run_sync(plan: Plan, executor: Executor | None) -> Any:
    """Run ``plan`` with blocking calls; returns what the plan returns.

    ``executor`` runs the second part of an overlapped `Both` (None: one after the other).
    """
    value: object = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = _step_sync(step, executor)
        except Exception as exc:
            error = exc


def _part_sync(part: Step | Plan, executor: Executor | None) -> object:
    if isinstance(part, _STEP_TYPES):
        return _step_sync(part, executor)
    return run_sync(part, executor)


def _step_sync(step: Step, executor: Executor | None) -> object:
    if isinstance(step, Both):
        if not step.overlap or executor is None:
            return _part_sync(step.first, executor), _part_sync(step.second, executor)
        # The second part waits on I/O in a worker (with this request's context, so its
        # stage timings land in the same record) while the first runs here.
        ctx = contextvars.copy_context()
        future = executor.submit(ctx.run, _part_sync, step.second, None)
        first = _part_sync(step.first, executor)
        return first, future.result()
    with stage(step.stage) if step.stage else nullcontext():
        if isinstance(step, Work):
            return step.fn()
        if isinstance(step, Embed):
            return step.embed_model.get_query_embedding(step.text)
        if isinstance(step, Retrieve):
            return step.retriever.retrieve(step.query)
        if isinstance(step, ClientCall):
            return getattr(step.client, step.method)(**step.kwargs)
        if isinstance(step, Io):
            return step.call()
        return step.store.query(step.query)


async def run_async(plan: Plan) -> Any:
    """Run ``plan`` with async calls (blocking work in threads); returns the plan's result."""
    value: object = None
    error: BaseException | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = await _step_async(step)
        except Exception as exc:
            error = exc


async def _part_async(part: Step | Plan) -> object:
    if isinstance(part, _STEP_TYPES):
        return await _step_async(part)
    return await run_async(part)


async def _step_async(step: Step) -> object:
    if isinstance(step, Both):
        first, second = await asyncio.gather(_part_async(step.first), _part_async(step.second))
        return first, second
    with stage(step.stage) if step.stage else nullcontext():
        if isinstance(step, Work):
            return await asyncio.to_thread(step.fn)
        if isinstance(step, Embed):
            return await step.embed_model.aget_query_embedding(step.text)
        if isinstance(step, Retrieve):
            return await step.retriever.aretrieve(step.query)
        if isinstance(step, ClientCall):
            if step.aclient is not None:
                return await getattr(step.aclient, step.method)(**step.kwargs)
            return await asyncio.to_thread(getattr(step.client, step.method), **step.kwargs)
        if isinstance(step, Io):
            return await step.acall()
        return await step.store.aquery(step.query)


_STEP_TYPES = (Work, Embed, Retrieve, ClientCall, StoreQuery, Io, Both)
