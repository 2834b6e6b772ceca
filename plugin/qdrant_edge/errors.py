"""How the Edge adapter reports problems: a damaged storage, a request Edge cannot express, an
engine error.

Qdrant Edge raises a bare ``Exception`` for every engine error; `edge_call` turns it into a
``ValueError`` naming Edge, as qdrant-client's local mode raises ``ValueError`` for bad input.

Example:
    >>> edge_call(int, "7")
    7
    >>> lookup({"a": 1}, "b", "letter")
    Traceback (most recent call last):
    ...
    NotImplementedError: letter='b' is not supported by Qdrant Edge; allowed: a
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")
_K = TypeVar("_K")
_V = TypeVar("_V")


class EdgeStorageError(RuntimeError):
    """The Edge storage directory is locked, foreign or damaged."""


def edge_call(fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Call Edge; its errors are plain ``Exception``s, re-raised as ``ValueError``."""
    try:
        return fn(*args, **kwargs)
    except (TypeError, ValueError, NotImplementedError):
        raise
    except Exception as exc:  # Edge raises bare Exception for every engine error
        raise ValueError(f"Qdrant Edge rejected the request: {exc}") from exc


def lookup(table: Mapping[_K, _V], value: object, what: str) -> _V:
    """The entry of ``table`` whose key equals ``value`` (a qdrant-client enum or its string),
    or ``NotImplementedError`` listing the values Edge supports."""
    for key, found in table.items():  # a few keys: equality, so unhashable input is refused too
        if key == value:
            return found
    allowed = ", ".join(str(getattr(k, "value", k)) for k in table)
    raise NotImplementedError(
        f"{what}={value!r} is not supported by Qdrant Edge; allowed: {allowed}"
    )


def unsupported(what: str, value: object) -> NotImplementedError:
    """The error for a request kind Edge (or this adapter) cannot run."""
    return NotImplementedError(
        f"{what} {type(value).__name__} is not supported by the Qdrant Edge backend "
        "(use qdrant-client local mode or a server for it)"
    )
