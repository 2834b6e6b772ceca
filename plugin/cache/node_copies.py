"""Copies of LlamaIndex nodes that share nothing mutable with the original.

A cache that keeps decoded nodes in memory must hand every caller its own objects: callers
mutate what they get (provenance records in ``metadata``, ``set_content``, scores).
``model_copy(deep=True)`` is safe but walks every field with ``copy.deepcopy``'s machinery;
`fresh_copy` copies exactly the containers a ``TextNode``, a ``RelatedNodeInfo`` and a
``NodeWithScore`` hold and falls back to the deep copy for any other class, or for one whose
fields are not the ones listed here (a LlamaIndex upgrade that adds a field is copied
deeply, never shared).

Example:
    >>> copy = fresh_copy(template)  # doctest: +SKIP
    >>> copy == template and copy.metadata is not template.metadata  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from llama_index.core.schema import NodeWithScore, RelatedNodeInfo, TextNode
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# Values shared as they are: immutable.
_LEAVES = frozenset({str, int, float, bool, type(None)})
# The fields each fast-copied class holds, and (below) how each mutable one is copied.
_TEXT_NODE_FIELDS = frozenset(
    {
        "id_",
        "embedding",
        "metadata",
        "excluded_embed_metadata_keys",
        "excluded_llm_metadata_keys",
        "relationships",
        "metadata_template",
        "metadata_separator",
        "text",
        "mimetype",
        "start_char_idx",
        "end_char_idx",
        "text_template",
    }
)
_RELATED_FIELDS = frozenset({"node_id", "node_type", "metadata", "hash"})
_SCORED_FIELDS = frozenset({"node", "score"})
_new = object.__new__
_set = object.__setattr__


def copy_json(value: Any) -> Any:
    """A copy of a JSON-like tree (dicts, lists, scalars); anything else is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _LEAVES else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _LEAVES else copy_json(v) for v in value]
    if kind in _LEAVES:
        return value
    return copy.deepcopy(value)


def _plain(model: BaseModel, fields: frozenset[str]) -> bool:
    """Whether ``model`` holds exactly ``fields`` and no extra or private state."""
    return (
        model.__dict__.keys() == fields
        and model.__pydantic_extra__ is None
        and not model.__pydantic_private__
    )


def _like(model: M, values: dict[str, Any]) -> M:
    """A new instance of ``model``'s class with ``values`` as its fields (already copied)."""
    out = _new(type(model))
    _set(out, "__dict__", values)
    _set(out, "__pydantic_fields_set__", set(model.__pydantic_fields_set__))
    _set(out, "__pydantic_extra__", None)
    _set(out, "__pydantic_private__", None)
    return out


def _related(info: object) -> object:
    if type(info) is list:
        return [_related(item) for item in info]
    if type(info) is not RelatedNodeInfo or not _plain(info, _RELATED_FIELDS):
        return copy.deepcopy(info)
    values: dict[str, Any] = dict(info.__dict__)
    values["metadata"] = copy_json(values["metadata"]) if values["metadata"] else {}
    return _like(info, values)


def fresh_copy(model: M) -> M:
    """A copy of ``model`` (a node, or a ``NodeWithScore``) equal to it and sharing nothing
    mutable with it: metadata, relationships, excluded-key lists and the embedding are new.

    Args:
        model: a LlamaIndex pydantic model; classes other than ``TextNode``,
            ``RelatedNodeInfo`` and ``NodeWithScore`` are copied with ``model_copy(deep=True)``.
    """
    kind = type(model)
    values = dict(model.__dict__)
    if kind is TextNode and _plain(model, _TEXT_NODE_FIELDS):
        values["metadata"] = copy_json(values["metadata"])
        values["excluded_embed_metadata_keys"] = list(values["excluded_embed_metadata_keys"])
        values["excluded_llm_metadata_keys"] = list(values["excluded_llm_metadata_keys"])
        values["relationships"] = {k: _related(v) for k, v in values["relationships"].items()}
        if values["embedding"] is not None:
            values["embedding"] = list(values["embedding"])
        return _like(model, values)
    if kind is NodeWithScore and _plain(model, _SCORED_FIELDS):
        values["node"] = fresh_copy(values["node"])
        return _like(model, values)
    if kind is RelatedNodeInfo:
        return _related(model)  # type: ignore[return-value]
    return model.model_copy(deep=True)


__all__ = ["copy_json", "fresh_copy"]
