"""Metadata keys the payload layout reserves are refused, never silently overwritten."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.schema import TextNode

from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.points import RESERVED_METADATA_KEYS, check_metadata_keys

pytestmark = pytest.mark.integration


def _count(client: Any, name: str) -> int:
    if not client.collection_exists(collection_name=name):
        return 0
    return int(client.count(collection_name=name, exact=True).count)


@pytest.mark.parametrize("key", RESERVED_METADATA_KEYS)
def test_a_reserved_key_is_refused_naming_node_key_and_fix(
    qdrant_client: Any, nodes: list[TextNode], key: str
) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    store.add(nodes[:5])
    clashing = nodes[5].model_copy(update={"metadata": {**nodes[5].metadata, key: "mine"}})
    with pytest.raises(ValueError) as error:
        store.add([*nodes[6:9], clashing])
    message = str(error.value)
    assert "node 'node-5'" in message and repr(key) in message and "rename the key" in message
    assert _count(qdrant_client, "c") == 5  # none of the batch was written
    stored = store.get_nodes(node_ids=["node-0"])[0]
    assert stored.metadata == nodes[0].metadata and stored.ref_doc_id == "doc-0"


def test_a_fresh_store_writes_no_point(qdrant_client: Any, nodes: list[TextNode]) -> None:
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    clashing = nodes[0].model_copy(update={"metadata": {"ref_doc_id": "x", "doc_id": "y"}})
    with pytest.raises(ValueError, match="keys 'doc_id', 'ref_doc_id' are reserved"):
        store.add([clashing])
    assert _count(qdrant_client, "c") == 0


def test_keys_that_only_look_alike_are_kept(qdrant_client: Any, nodes: list[TextNode]) -> None:
    metadata = {"doc": 1, "node_content": "x", "Doc_Id": "kept", "user_doc_id": "mine"}
    store = CachedQdrantVectorStore("c", client=qdrant_client)
    store.add([nodes[0].model_copy(update={"metadata": metadata})])
    assert store.get_nodes(node_ids=["node-0"])[0].metadata == metadata


@pytest.mark.unit
def test_check_metadata_keys_accepts_plain_metadata() -> None:
    check_metadata_keys({"topic": "bm25", "file_name": "a.md"}, "node 'n'")
    with pytest.raises(ValueError, match="node 'n': metadata key '_node_type' is reserved"):
        check_metadata_keys({"_node_type": "TextNode"}, "node 'n'")
