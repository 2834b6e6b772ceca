"""Pure functions between LlamaIndex nodes and Qdrant points, in LlamaIndex's payload layout.

Payloads come from ``node_to_metadata_dict`` and go back through ``metadata_dict_to_node``,
the helpers LlamaIndex's ``QdrantVectorStore`` uses, so either store reads the other's points.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import VectorStoreQueryResult
from llama_index.core.vector_stores.utils import (
    legacy_metadata_dict_to_node,
    metadata_dict_to_node,
    node_to_metadata_dict,
)
from qdrant_client.http import models as qm

# Node ids that are not UUIDs map to uuid5(_ID_NAMESPACE, node_id): stable across runs.
_ID_NAMESPACE = uuid.UUID("6f1b0c51-52f4-4d8f-9a57-4c0d3b8a7e21")

SparseEncoder = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]

# Payload keys ``node_to_metadata_dict`` writes beside the user's metadata: a metadata key
# with one of these names would be silently overwritten (and the node read back wrong).
RESERVED_METADATA_KEYS = ("_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id")


def check_metadata_keys(metadata: Mapping[str, object], owner: str) -> None:
    """Raise ValueError naming ``owner`` (``"node 'n1'"``) when ``metadata`` uses a key the
    payload layout reserves (`RESERVED_METADATA_KEYS`)."""
    clash = [key for key in RESERVED_METADATA_KEYS if key in metadata]
    if clash:
        raise ValueError(
            f"{owner}: metadata {'keys' if len(clash) > 1 else 'key'} "
            f"{', '.join(repr(k) for k in clash)} {'are' if len(clash) > 1 else 'is'} reserved: "
            "the Qdrant payload stores the node "
            f"itself under {', '.join(RESERVED_METADATA_KEYS)}; rename the key "
            f"(e.g. {'user_' + clash[0]!r})"
        )


def point_id_for(node_id: str) -> str:
    """The Qdrant point id of ``node_id``: the node id itself when it is a UUID (as
    LlamaIndex's store does), else a deterministic UUID5 of it."""
    try:
        return str(uuid.UUID(node_id))
    except (ValueError, AttributeError, TypeError):
        return str(uuid.uuid5(_ID_NAMESPACE, str(node_id)))


def last_per_point(nodes: Sequence[BaseNode]) -> list[BaseNode]:
    """``nodes`` with one node per Qdrant point: where several map to the same point id (the
    same node id given twice), the last one, as sequential upserts would leave it.

    Ordered by each kept node's position. LlamaIndex's ``QdrantVectorStore`` upserts, so
    ``VectorStoreIndex.from_documents(docs + [docs[0]])`` keeps one copy (issue 16).
    """
    latest: dict[str, BaseNode] = {}
    for node in nodes:
        pid = point_id_for(node.node_id)
        latest.pop(pid, None)  # re-inserted: ordered by its last occurrence
        latest[pid] = node
    return list(latest.values())


def validate_vectors(
    vectors: Sequence[Sequence[float] | None], size: int, *, distance: str, ids: Sequence[str]
) -> np.ndarray:
    """``vectors`` as a float32 matrix after checking every one; raises ValueError.

    Checks: present, ``size`` long, finite, and non-zero for cosine distance (a zero
    vector cannot be normalised and would match nothing meaningfully).
    """
    for node_id, vector in zip(ids, vectors, strict=True):
        if vector is None:
            raise ValueError(f"node {node_id!r} has no embedding; embed nodes before adding")
        if len(vector) != size:
            raise ValueError(
                f"node {node_id!r}: embedding has {len(vector)} dimensions, the collection "
                f"expects {size}"
            )
    matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), size)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        bad = ids[int(np.argmin(finite))]
        raise ValueError(f"node {bad!r}: embedding contains NaN or infinity")
    if distance == "Cosine":
        norms = np.linalg.norm(matrix, axis=1)
        if (norms == 0).any():
            bad = ids[int(np.argmin(norms))]
            raise ValueError(f"node {bad!r}: zero embedding cannot be used with cosine distance")
    return matrix


def validate_query_vector(vector: Sequence[float] | None, size: int, distance: str) -> list[float]:
    """The query embedding as a list after the same checks as stored vectors."""
    if vector is None:
        raise ValueError("query.query_embedding is None; this store needs an embedding query")
    validate_vectors([vector], size, distance=distance, ids=["<query>"])
    return [float(x) for x in vector]


def build_points(
    nodes: Sequence[BaseNode],
    *,
    size: int,
    distance: str,
    dense_name: str,
    sparse_name: str | None,
    sparse_doc_fn: SparseEncoder | None,
    flat_metadata: bool = False,
) -> list[qm.PointStruct]:
    """Validated Qdrant points for ``nodes`` (none built if any vector or metadata key is bad:
    see `check_metadata_keys`)."""
    node_ids = [n.node_id for n in nodes]
    for node in nodes:
        check_metadata_keys(node.metadata, f"node {node.node_id!r}")
    validate_vectors([n.embedding for n in nodes], size, distance=distance, ids=node_ids)
    sparse: tuple[list[list[int]], list[list[float]]] | None = None
    if sparse_name is not None and sparse_doc_fn is not None:
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        sparse = sparse_doc_fn(texts)
        if len(sparse[0]) != len(nodes) or len(sparse[1]) != len(nodes):
            raise ValueError(
                f"sparse_doc_fn returned {len(sparse[0])} vectors for {len(nodes)} texts"
            )
    points = []
    for i, node in enumerate(nodes):
        dense = node.embedding
        vector: Any
        if dense_name == "" and sparse is None:
            vector = dense
        else:
            vector = {dense_name: dense}
            if sparse is not None and sparse_name is not None:
                vector[sparse_name] = qm.SparseVector(indices=sparse[0][i], values=sparse[1][i])
        payload = node_to_metadata_dict(node, remove_text=False, flat_metadata=flat_metadata)
        points.append(qm.PointStruct(id=point_id_for(node.node_id), vector=vector, payload=payload))
    return points


# ``_node_type`` values ``metadata_dict_to_node`` reads as another class than TextNode.
_OTHER_NODE_TYPES = frozenset({"Node", "IndexNode", "ImageNode"})


def node_from_payload(
    point_id: object, payload: dict[str, Any], text_key: str = "text"
) -> BaseNode:
    """The node stored in ``payload`` (LlamaIndex layout; legacy layouts too).

    A ``TextNode`` is validated straight from its JSON by pydantic (about twice as fast as
    ``metadata_dict_to_node``'s ``json.loads`` and ``TextNode(**data)``, the same node);
    ``TextNode.__init__``'s only extra, a ``text_resource`` argument, and every other class
    take LlamaIndex's path.
    """
    content = payload.get("_node_content")
    if (
        type(content) is str
        and payload.get("_node_type") not in _OTHER_NODE_TYPES
        and "text_resource" not in content
    ):
        try:
            return TextNode.model_validate_json(content)
        except ValueError:  # pydantic's ValidationError included: LlamaIndex's path decides
            pass
    try:
        return metadata_dict_to_node(payload)
    except (ValueError, KeyError, TypeError):
        metadata, node_info, relationships = legacy_metadata_dict_to_node(payload)
        return TextNode(
            id_=str(point_id),
            text=payload.get(text_key) or "",
            metadata=metadata,
            start_char_idx=node_info.get("start", None),
            end_char_idx=node_info.get("end", None),
            relationships=relationships,
        )


def node_id_from_payload(point_id: object, payload: dict[str, Any] | None) -> str:
    """The node id of a stored point without rebuilding the node."""
    content = (payload or {}).get("_node_content")
    if isinstance(content, str):
        try:
            node_id = json.loads(content).get("id_")
        except ValueError:
            node_id = None
        if isinstance(node_id, str):
            return node_id
    return str(point_id)


class PointIdentityError(ValueError):
    """A point's id and the node its payload holds disagree: the index's id map is damaged."""


def check_point_identity(point_id: object, node_id: str) -> None:
    """PointIdentityError when ``node_id`` (read from the point's payload) is not ``point_id``'s.

    Every point is written under `point_id_for` of its node id, so a mismatch means the
    engine's id map no longer pairs ids with their payloads (a damaged or reordered id
    tracker): answering would return another document than the one ranked.
    """
    pid = str(point_id)
    if node_id != pid and point_id_for(node_id) != pid:
        raise PointIdentityError(
            f"point {pid} holds node {node_id!r}, which belongs under point "
            f"{point_id_for(node_id)}: the index's id map is damaged; restore the index from a "
            "backup (ragdrop restore) or re-ingest into a new data dir"
        )


def hits_to_json(points: Sequence[Any]) -> dict[str, Any]:
    """Scored points as JSON (what the query cache stores)."""
    return {
        "ids": [str(p.id) for p in points],
        "scores": [
            float(p.score) if getattr(p, "score", None) is not None else 1.0 for p in points
        ],
        "payloads": [p.payload or {} for p in points],
    }


def result_from_json(data: dict[str, Any], text_key: str = "text") -> VectorStoreQueryResult:
    """A fresh `VectorStoreQueryResult` (new node objects on every call), each node checked
    against its point id (`check_point_identity`); legacy payloads keep their text under
    ``text_key`` (the store's ``text_key``)."""
    nodes = [
        node_from_payload(pid, payload, text_key)
        for pid, payload in zip(data["ids"], data["payloads"], strict=True)
    ]
    for pid, node in zip(data["ids"], nodes, strict=True):
        check_point_identity(pid, node.node_id)  # never another document than the one ranked
    return VectorStoreQueryResult(
        nodes=nodes,
        similarities=list(data["scores"]),
        ids=[n.node_id for n in nodes],
    )


__all__ = [
    "RESERVED_METADATA_KEYS",
    "PointIdentityError",
    "check_point_identity",
    "SparseEncoder",
    "build_points",
    "check_metadata_keys",
    "hits_to_json",
    "last_per_point",
    "node_from_payload",
    "node_id_from_payload",
    "point_id_for",
    "result_from_json",
    "validate_query_vector",
    "validate_vectors",
]
