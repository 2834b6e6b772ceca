"""node_from_payload's fast path builds the node LlamaIndex's `metadata_dict_to_node` builds."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.schema import (
    Document,
    ImageNode,
    IndexNode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ragdrop.vector_stores.points import hits_to_json, node_from_payload, result_from_json

pytestmark = pytest.mark.unit


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal with the same type at every level (``ObjectType.X == "4"`` would hide a change)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if hasattr(a, "__pydantic_fields_set__"):
        assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__, path
        for name in a.__dict__:
            same(a.__dict__[name], b.__dict__[name], f"{path}.{name}")
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], path
        for key in a:
            same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def text_node() -> TextNode:
    node = TextNode(
        id_="n1",
        text='Text with "quotes", unicode é ✓ and \\n escapes\n.',
        metadata={
            "topic": "bm25",
            "n": 3,
            "f": 0.1,
            "big": 2**62,
            "flag": False,
            "none": None,
            "nested": {"a": [1, {"b": [2.5, "c"]}]},
        },
        excluded_embed_metadata_keys=["nested"],
        excluded_llm_metadata_keys=["n"],
        start_char_idx=3,
        end_char_idx=50,
        text_template="{metadata_str}::{content}",
    )
    node.relationships[NodeRelationship.SOURCE] = Document(
        text="d", id_="doc"
    ).as_related_node_info()
    node.relationships[NodeRelationship.NEXT] = RelatedNodeInfo(node_id="n2", metadata={"k": 1})
    node.relationships[NodeRelationship.CHILD] = [RelatedNodeInfo(node_id="c1", hash="h")]
    return node


@pytest.mark.parametrize(
    "node",
    [
        text_node(),
        TextNode(text="plain"),
        Document(text="a document", id_="d1", metadata={"m": 1}),
        ImageNode(text="caption", image="aGVsbG8=", metadata={"m": [1]}),
        IndexNode(text="index", index_id="other"),
    ],
    ids=["text", "plain", "Document", "ImageNode", "IndexNode"],
)
@pytest.mark.parametrize("flat", [False, True])
def test_the_node_equals_llamaindex_rebuild(node: Any, flat: bool) -> None:
    if flat and any(isinstance(v, dict | list) for v in node.metadata.values()):
        pytest.skip("flat metadata holds scalars only")
    payload = node_to_metadata_dict(node, remove_text=False, flat_metadata=flat)
    same(node_from_payload("pid", payload), metadata_dict_to_node(payload))


def test_a_text_resource_argument_takes_llamaindex_path() -> None:
    payload = node_to_metadata_dict(TextNode(text="x", id_="n"), remove_text=False)
    payload["_node_content"] = payload["_node_content"].replace(
        '"text": "x"', '"text_resource": {"text": "from the resource"}'
    )
    expected = metadata_dict_to_node(payload)
    assert expected.text == "from the resource"
    same(node_from_payload("pid", payload), expected)


def test_results_are_new_objects_every_time() -> None:
    class Point:
        def __init__(self, node: TextNode) -> None:
            self.id, self.score = node.node_id, 0.5
            self.payload = node_to_metadata_dict(node, remove_text=False)

    node = text_node()
    node.id_ = "7f0a3a5e-2b9f-4d7e-9a43-0c2a8e6c1d11"
    data = hits_to_json([Point(node)])
    a, b = result_from_json(data), result_from_json(data)
    assert a.nodes[0] is not b.nodes[0] and a.nodes[0] == b.nodes[0]
    a.nodes[0].metadata["nested"]["a"].append(3)
    assert b.nodes[0].metadata["nested"]["a"] == [1, {"b": [2.5, "c"]}]
