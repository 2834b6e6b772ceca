"""The protocol between `CachedQdrantVectorStore`'s logic and its I/O drivers.

Each store operation is a generator that yields `Call`s (or a `Parallel` group) and receives
their results; a sync driver sends them through ``client`` and an async one through
``aclient``. `client_scope` names the data a client reaches, for cache sharing.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ragdrop.core.protocols import WriteEvent, WriteListener


@dataclass(frozen=True)
class Call:
    """One client method call: ``getattr(client, method)(**kwargs)``."""

    method: str
    kwargs: dict[str, object]


@dataclass(frozen=True)
class Parallel:
    """Independent calls that may run concurrently (batches of one upsert)."""

    calls: list[Call]


Op = Generator[Call | Parallel, Any, Any]


def client_scope(client: object) -> tuple[str, str]:
    """(cache scope, kind) of a qdrant-client ``QdrantClient``/``AsyncQdrantClient``.

    ``kind`` is ``memory``, ``path`` (both local mode), ``edge`` (Qdrant Edge at a path),
    ``remote`` or ``other`` (an adapter).
    The scope names the data the client reaches, so processes on the same server or
    on-disk path share epochs; an in-memory client is private to this object.
    """
    opts = getattr(client, "init_options", None) or {}
    if not isinstance(opts, dict):
        opts = {}
    if opts.get("path"):
        return f"path:{os.path.realpath(opts['path'])}", "path"
    if opts.get("edge_path"):  # EdgeQdrantClient: on-disk like local mode, but indexed
        return f"path:{os.path.realpath(opts['edge_path'])}", "edge"
    location = opts.get("location")
    if location == ":memory:":
        return f"memory:{os.getpid()}:{id(client)}", "memory"
    remote = opts.get("url") or opts.get("host") or location
    if remote:
        return f"remote:{remote}:{opts.get('port')}:{opts.get('prefix')}", "remote"
    return f"{type(client).__qualname__}:{os.getpid()}:{id(client)}", "other"


__all__ = ["Call", "Op", "Parallel", "WriteEvent", "WriteListener", "client_scope"]
