"""Public names of a package imported on first use (PEP 562), so importing the package is cheap.

A package lists where each public name lives; ``import ragdrop`` then loads neither torch nor
LlamaIndex's indices, and ``ragdrop --help`` starts in a fraction of a second. Type checkers
read the same names from the package's ``if TYPE_CHECKING:`` imports.

Example:
    >>> __getattr__, __dir__ = lazy_exports("pkg", {"sqrt": "math"}, {})
    >>> __getattr__("sqrt")(9.0)
    3.0
    >>> __getattr__("nothing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'nothing'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: the package's name (for the AttributeError).
        exports: public name -> the module that defines it.
        namespace: the package's ``globals()``; a name is stored there once imported, so
            later lookups cost nothing.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
