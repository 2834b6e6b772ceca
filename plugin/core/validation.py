"""Argument checks with one wording everywhere: the argument, the value received, what is allowed.

Plain classes call the functions; pydantic components annotate their numeric fields `Int` or
`Float`, which apply the same rule (``True`` is never a number).

Example:
    >>> positive_int("top_k", 5)
    5
    >>> positive_int("top_k", True)
    Traceback (most recent call last):
    ...
    ValueError: top_k must be a positive int, got True
    >>> choice("fusion", "rrf", ("client", "qdrant"))
    Traceback (most recent call last):
    ...
    ValueError: fusion must be one of ['client', 'qdrant'], got 'rrf'
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable
from typing import Annotated, Literal, TypeVar, overload

from pydantic import BeforeValidator


def _refuse_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not a bool (got {value!r})")
    return value


# For pydantic fields: numbers as pydantic parses them (``"5"`` from a config file is 5), but
# never a bool, which pydantic would otherwise take as 1 or 0.
Int = Annotated[int, BeforeValidator(_refuse_bool)]
Float = Annotated[float, BeforeValidator(_refuse_bool)]

T = TypeVar("T")


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools refused), else ValueError naming ``name``."""
    if not is_int(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def optional_positive_int(name: str, value: object) -> int | None:
    """None, or ``value`` checked by `positive_int`."""
    return None if value is None else positive_int(name, value)


def non_negative_int(name: str, value: object) -> int:
    """``value`` if it is an int >= 0 (bools refused), else ValueError naming ``name``."""
    if not is_int(value) or int(value) < 0:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def finite_number(name: str, value: object, minimum: float | None = None) -> float:
    """``value`` as a float if it is a finite real (bools refused) and >= ``minimum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or (minimum is not None and float(value) < minimum)
    ):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def choice(name: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``, else ValueError listing them."""
    options = list(allowed)
    if value not in options:
        shown = [o.value if isinstance(o, enum.Enum) else o for o in options]
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value


@overload
def instance(
    name: str, value: object, expected: type[T], allow_none: Literal[False] = False
) -> T: ...


@overload
def instance(
    name: str, value: object, expected: type[T], allow_none: Literal[True]
) -> T | None: ...


def instance(name: str, value: object, expected: type[T], allow_none: bool = False) -> T | None:
    """``value`` if it is an instance of ``expected`` (or None when allowed), else TypeError."""
    if value is None and allow_none:
        return None
    if not isinstance(value, expected):
        wanted = expected.__name__ + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}")
    return value
