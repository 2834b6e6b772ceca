"""fresh_copy: equal to the original, type for type, and sharing nothing mutable with it."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
from llama_index.core.schema import (
    Document,
    ImageNode,
    IndexNode,
    NodeRelationship,
    NodeWithScore,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.storage.docstore.utils import doc_to_json, json_to_doc
from pydantic import BaseModel

from ragdrop.cache.node_copies import copy_json, fresh_copy

pytestmark = pytest.mark.unit


def same(a: Any, b: Any, path: str = "") -> None:
    """``a`` and ``b`` equal with the same type at every level, and no mutable part shared."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, BaseModel):
        assert a is not b, f"{path}: the same model object"
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__, path
        assert a.__pydantic_fields_set__ is not b.__pydantic_fields_set__, path
        assert a.__dict__.keys() == b.__dict__.keys(), path
        for name in a.__dict__:
            same(a.__dict__[name], b.__dict__[name], f"{path}.{name}")
    elif isinstance(a, dict | list):
        assert a is not b, f"{path}: the same {type(a).__name__} object"
        assert len(a) == len(b), path
        if isinstance(a, dict):
            assert list(a) == list(b), path
            for key in a:
                assert type(key) is type(next(k for k in b if k == key)), path
                same(a[key], b[key], f"{path}[{key!r}]")
        else:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{path}[{i}]")
    else:
        assert isinstance(a, str | int | float | bool | Enum) or a is None, f"{path}: {a!r}"
        assert a == b, path


def realistic() -> TextNode:
    """A fused-result node: nested provenance, every relationship shape, offsets, exclusions."""
    node = TextNode(
        id_="n1",
        text="BM25 scores documents by term frequency.",
        metadata={
            "topic": "bm25",
            "length": 41,
            "ratio": 0.5,
            "flag": True,
            "none": None,
            "tags": ["a", ["b", {"c": [1, 2.5]}]],
            "fusion": {"score": 5.9, "sources": {"bm25": {"rank": 1, "score": 3.0}}},
        },
        excluded_embed_metadata_keys=["fusion", "length"],
        excluded_llm_metadata_keys=["fusion"],
        start_char_idx=10,
        end_char_idx=51,
        embedding=[0.1, 0.2, 0.3],
    )
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(
        node_id="doc", metadata={"k": {"nested": [1]}}, hash="h"
    )
    node.relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id="n2", node_type="1")
    node.relationships[NodeRelationship.CHILD] = [
        RelatedNodeInfo(node_id="c1"),
        RelatedNodeInfo(node_id="c2", metadata={"x": 1}),
    ]
    return node


def rebuilt(node: Any) -> Any:
    """The node as the cache rebuilt it before templates: LlamaIndex's JSON round trip."""
    return json_to_doc(doc_to_json(node))


def test_copy_of_a_rebuilt_node_equals_the_rebuild_type_for_type() -> None:
    template = rebuilt(realistic())
    copy = fresh_copy(template)
    same(copy, template)
    same(copy, rebuilt(realistic()))  # what a hit returned before: nothing changes for callers
    assert copy == realistic() and copy.hash == realistic().hash
    assert copy.get_content(metadata_mode="all") == realistic().get_content(metadata_mode="all")


def test_mutating_a_copy_leaves_the_template_and_other_copies_alone() -> None:
    template = rebuilt(realistic())
    before = rebuilt(realistic())
    a, b = fresh_copy(template), fresh_copy(template)
    a.metadata["fusion"]["sources"]["bm25"]["rank"] = 99
    a.metadata["tags"][1][1]["c"].append(3)
    a.metadata["new"] = 1
    a.excluded_embed_metadata_keys.append("topic")
    a.excluded_llm_metadata_keys.clear()
    a.relationships[NodeRelationship.SOURCE].metadata["k"]["nested"].append(2)
    a.relationships[NodeRelationship.CHILD].append(RelatedNodeInfo(node_id="c3"))
    a.relationships[NodeRelationship.NEXT].node_id = "other"
    del a.relationships[NodeRelationship.SOURCE]
    a.embedding.append(1.0)  # type: ignore[union-attr]
    a.set_content("changed")
    a.start_char_idx = 0
    same(template, before)
    same(b, before)


def test_node_with_score_copies_its_node() -> None:
    template = NodeWithScore(node=rebuilt(realistic()), score=0.25)
    copy = fresh_copy(template)
    same(copy, template)
    copy.node.metadata["fusion"]["score"] = -1.0
    copy.score = 3.0
    assert template.node.metadata["fusion"]["score"] == 5.9 and template.score == 0.25


@pytest.mark.parametrize(
    "node",
    [
        Document(text="a whole document", id_="d", metadata={"m": {"x": [1]}}),
        ImageNode(text="caption", image="aGVsbG8=", metadata={"m": [1]}),
        IndexNode(text="index", index_id="other", metadata={"m": {"y": 2}}),
    ],
    ids=["Document", "ImageNode", "IndexNode"],
)
def test_other_node_classes_are_deep_copied(node: Any) -> None:
    template = rebuilt(node)
    copy = fresh_copy(template)
    assert type(copy) is type(template) and copy == template and copy is not template
    assert copy.metadata is not template.metadata
    key = next(iter(copy.metadata))
    copy.metadata[key] = "changed"
    assert template == rebuilt(node)


def test_a_node_with_an_unknown_field_is_deep_copied() -> None:
    class Tagged(TextNode):
        tags: list[str] = []

    template = Tagged(text="t", tags=["a"])
    copy = fresh_copy(template)
    assert copy == template
    copy.tags.append("b")
    assert template.tags == ["a"]


def test_copy_json_copies_containers_and_deep_copies_the_rest() -> None:
    class Box:
        def __init__(self) -> None:
            self.items = [1]

    value = {"a": [1, {"b": "c"}], "box": Box()}
    out = copy_json(value)
    assert out["a"] == value["a"] and out["a"] is not value["a"]
    assert out["a"][1] is not value["a"][1]
    assert out["box"] is not value["box"] and out["box"].items == [1]
