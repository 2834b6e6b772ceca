"""Deep copies of pydantic components that share or recreate their runtime state.

LlamaIndex copies components (``copy.deepcopy`` in ingestion pipelines, settings,
``model_copy(deep=True)``). Pydantic's own deep copy also copies private attributes, which
fails on a lock and would duplicate a loaded model. `deep_copy_component` copies the
settings and says, per attribute, what a copy shares (loaded models, clients, caches: heavy,
thread-safe, or rebuilt when a setting changes) and what it gets new (locks).

Example:
    >>> import copy, threading
    >>> from pydantic import BaseModel, PrivateAttr
    >>> class Component(BaseModel):
    ...     size: list[int] = [1]
    ...     _model: object = PrivateAttr(default=None)
    ...     _lock: object = PrivateAttr(default_factory=threading.Lock)
    ...     def __deepcopy__(self, memo=None):
    ...         return deep_copy_component(self, memo, share=("_model",), fresh=("_lock",))
    >>> one = Component()
    >>> one._model = object()
    >>> two = copy.deepcopy(one)
    >>> two._model is one._model, two._lock is one._lock, two.size is one.size
    (True, False, False)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_MISSING = object()


def deep_copy_component(
    model: M,
    memo: dict[int, object] | None,
    *,
    share: Collection[str] = (),
    fresh: Collection[str] = (),
) -> M:
    """A deep copy of ``model`` (a ``__deepcopy__`` body).

    Args:
        model: the pydantic model to copy.
        memo: ``copy.deepcopy``'s memo (objects already copied in this call).
        share: field or private attribute names the copy shares with ``model``.
        fresh: private attribute names the copy gets anew, from their declared default.
    """
    memo = {} if memo is None else memo
    new = model.model_copy()  # new __dict__ and private dict, values still shared
    memo[id(model)] = new
    cls = type(model)
    for name in cls.model_fields:
        if name not in share:
            new.__dict__[name] = copy.deepcopy(getattr(model, name), memo)
    for name, attr in cls.__private_attributes__.items():
        if name in fresh:
            setattr(new, name, attr.get_default(call_default_factory=True))
        elif name not in share:
            value = getattr(model, name, _MISSING)
            if value is not _MISSING:
                setattr(new, name, copy.deepcopy(value, memo))
    return new


T = TypeVar("T")


def deep_copy_object(
    obj: T,
    memo: dict[int, object] | None,
    *,
    share: Collection[str] = (),
    fresh: Mapping[str, Callable[[], object]] | None = None,
) -> T:
    """A deep copy of a plain object's attributes (a ``__deepcopy__`` body).

    Args:
        obj: the object to copy (its ``vars()``).
        memo: ``copy.deepcopy``'s memo.
        share: attribute names the copy shares with ``obj``.
        fresh: attribute name -> factory of the copy's own value (a new lock).
    """
    memo = {} if memo is None else memo
    new = copy.copy(obj)
    memo[id(obj)] = new
    made = fresh or {}
    for name, value in vars(obj).items():
        if name in made:
            setattr(new, name, made[name]())
        elif name not in share:
            setattr(new, name, copy.deepcopy(value, memo))
    return new
