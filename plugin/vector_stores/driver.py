"""The two drivers of the store's operations: the only place where sync and async differ.

Each store operation is a generator of client `Call`s (see `calls`); `ClientDriver.run`
sends them through the sync client, `ClientDriver.arun` through the async client (or,
without one, through the sync client in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.client_base import QdrantBase

from ragdrop.vector_stores.calls import Call, Op, Parallel
from ragdrop.vector_stores.client_watch import own_writes


class ClientDriver:
    """Sends an operation's calls to ``client`` or ``aclient``.

    Args:
        client: the sync client (None: only the async methods work).
        aclient: the async client (None: async calls run ``client`` in a thread).
        serial: one call at a time through ``client`` (local mode and unknown adapters are
            not thread-safe).
        parallel: concurrent calls of one `Parallel` group (servers only).
        owner: whose operations these are (`client_watch.own_writes`: the store that sends
            them is not told of its own writes as if they were another writer's).
    """

    def __init__(
        self,
        client: QdrantBase | None,
        aclient: AsyncQdrantBase | None,
        *,
        serial: bool,
        parallel: int = 1,
        owner: object = None,
    ) -> None:
        self.owner = owner
        self.client = client
        self.aclient = aclient
        self.serial = serial
        self.parallel = parallel
        self._lock = threading.RLock()

    def _send(self, call: Call) -> object:
        if self.client is None:
            raise ValueError(
                f"{call.method}: this store has only an async client; use the a-methods"
            )
        method = getattr(self.client, call.method)
        if self.serial:
            with self._lock:
                return method(**call.kwargs)
        return method(**call.kwargs)

    def run_step(self, step: Call | Parallel) -> object:
        """Send one step of an operation (a call or a parallel group) and return its result."""
        if isinstance(step, Call):
            return self._send(step)
        if self.parallel > 1 and not self.serial and len(step.calls) > 1:
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                context = contextvars.copy_context()  # the owner travels into the workers
                return list(pool.map(lambda c: context.copy().run(self._send, c), step.calls))
        return [self._send(call) for call in step.calls]

    async def _step_async(self, step: Call | Parallel) -> object:
        if self.aclient is None:
            return await asyncio.to_thread(self.run_step, step)
        aclient = self.aclient
        if isinstance(step, Call):
            return await getattr(aclient, step.method)(**step.kwargs)
        limit = asyncio.Semaphore(self.parallel)

        async def one(call: Call) -> object:
            async with limit:
                return await getattr(aclient, call.method)(**call.kwargs)

        return await asyncio.gather(*(one(c) for c in step.calls))

    def run(self, op: Op) -> object:
        """Run ``op`` to completion with blocking calls; returns its value."""
        with own_writes(self.owner):
            return self._run(op)

    async def arun(self, op: Op) -> object:
        """Run ``op`` to completion with async calls; returns its value."""
        with own_writes(self.owner):
            return await self._arun(op)

    def _run(self, op: Op) -> object:
        value: object = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = self.run_step(step)
            except Exception as exc:
                error = exc

    async def _arun(self, op: Op) -> object:
        value: object = None
        error: BaseException | None = None
        while True:
            try:
                step = op.throw(error) if error is not None else op.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            try:
                value = await self._step_async(step)
            except Exception as exc:
                error = exc
