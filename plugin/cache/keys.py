"""Cache keys: a SHA-256 of the canonical JSON of every input that changes the cached answer.

Example:
    >>> cache_key("model", text="hello") == cache_key("model", text="hello")
    True
    >>> cache_key("model", text="hello") == cache_key("model", text="hello!")
    False
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol, TypeAlias, runtime_checkable

JSONLike: TypeAlias = None | bool | int | float | str | list["JSONLike"] | dict[str, "JSONLike"]


@runtime_checkable
class _Model(Protocol):
    """A pydantic model (keyed by its JSON dump)."""

    def model_dump(self, *, mode: str) -> object: ...


@runtime_checkable
class _Array(Protocol):
    """A numpy array (keyed by dtype, shape and the SHA-256 of its bytes)."""

    dtype: object
    shape: tuple[int, ...]

    def tobytes(self) -> bytes: ...


def canonical(value: object) -> JSONLike:
    """``value`` as plain JSON data that is equal exactly when the inputs are.

    Bytes and arrays enter as their SHA-256 (arrays with dtype and shape), pydantic models as
    their JSON dump, tuples as lists, NaN as ``"NaN"``; any other type raises TypeError.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return {"__bytes_sha256__": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, _Model):
        return canonical(value.model_dump(mode="json"))
    if isinstance(value, _Array):
        return {
            "__ndarray__": [str(value.dtype), list(value.shape)],
            "sha256": hashlib.sha256(value.tobytes()).hexdigest(),
        }
    raise TypeError(
        f"cache_key: cannot key on a value of type {type(value).__name__!r}; "
        "allowed: str, int, float, bool, None, bytes, list, tuple, dict, numpy arrays, "
        "pydantic models"
    )


def cache_key(*parts: object, **fields: object) -> str:
    """SHA-256 hex of the canonical JSON of every input that changes the cached answer.

    Bytes and arrays enter as their SHA-256, dicts with sorted keys, so equal inputs give
    equal keys across processes and Python versions.

    Example:
        >>> len(cache_key("model", text="hello"))
        64
    """
    payload = {"parts": canonical(list(parts)), "fields": canonical(fields)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


__all__ = ["cache_key", "canonical"]
