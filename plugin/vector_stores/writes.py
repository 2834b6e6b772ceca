"""The store's writes as operations (generators of client calls): add, delete, clear.

Each write starts a new cache epoch (even when it fails part way: a partial write must not
leave cached results that predate it) and tells the listeners what it changed.

Writes are idempotent upserts, LlamaIndex's ``QdrantVectorStore`` rule (issue 16): a node id
already stored is replaced, and a node id given twice in one ``add`` keeps its last node (the
earlier copies are neither written nor reported to listeners, so BM25 holds what the
collection holds). ``add`` never deletes other nodes of a document: a document re-chunked
into different node ids is replaced the LlamaIndex way, ``delete(ref_doc_id)`` then ``add``
(``index.update_ref_doc``/``refresh_ref_docs``, or ``RagPipeline.ingest``); replacing by
``ref_doc_id`` inside ``add`` would delete the first batches of a document that
``VectorStoreIndex`` inserts in several ``add`` calls.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import MetadataFilters
from qdrant_client.http import models as qm

from ragdrop.core.protocols import WriteEvent, WriteKind
from ragdrop.observability.stages import Stage, stage
from ragdrop.vector_stores.calls import Call, Op, Parallel
from ragdrop.vector_stores.collection import CollectionState
from ragdrop.vector_stores.filters import DOC_ID_KEY, query_filter
from ragdrop.vector_stores.points import (
    SparseEncoder,
    build_points,
    check_metadata_keys,
    last_per_point,
    node_id_from_payload,
    point_id_for,
    validate_vectors,
)
from ragdrop.vector_stores.settings import CollectionLayout


def add_op(
    state: CollectionState, nodes: Sequence[BaseNode], sparse_doc_fn: SparseEncoder | None
) -> Op:
    """Upsert ``nodes`` in batches; returns their node ids, one per node given.

    A node id given twice keeps its last node (see the module docstring): deduplicated
    before batching, so parallel batches never race on which copy wins.
    """
    given = [n.node_id for n in nodes]
    nodes = last_per_point(nodes)
    if not nodes:
        return given
    fields = state.fields
    for node in nodes:  # before the collection is created: a refused write changes nothing
        check_metadata_keys(node.metadata, f"node {node.node_id!r}")
    ids = [n.node_id for n in nodes]
    first = nodes[0].embedding
    size = len(first) if first is not None else 0
    if state.layout is None:
        # Checked before the collection is created, so a bad call writes nothing.
        validate_vectors(
            [n.embedding for n in nodes], size, distance=fields.settings.distance, ids=ids
        )

    def upserts(layout: CollectionLayout) -> Parallel:
        points = build_points(
            nodes,
            size=layout.size,
            distance=layout.distance,
            dense_name=layout.dense_name,
            sparse_name=layout.sparse_name if fields.enable_hybrid else None,
            sparse_doc_fn=sparse_doc_fn,
            flat_metadata=fields.flat_metadata,
        )
        step = fields.batch_size
        return Parallel(
            [
                Call(
                    "upsert",
                    {"collection_name": state.name, "points": points[i : i + step], "wait": True},
                )
                for i in range(0, len(points), step)
            ]
        )

    with stage(Stage.UPSERT):
        try:
            yield from state.with_layout(upserts, size)
        finally:
            state.invalidate()
    state.notify(WriteEvent(WriteKind.ADD, nodes=nodes, node_ids=ids))
    return given


def _ids_matching(state: CollectionState, flt: qm.Filter) -> Op:
    ids: list[str] = []
    offset = None
    while True:
        records, offset = yield Call(
            "scroll",
            {
                "collection_name": state.name,
                "scroll_filter": flt,
                "limit": 1024,
                "offset": offset,
                "with_payload": ["_node_content"],
                "with_vectors": False,
            },
        )
        ids.extend(node_id_from_payload(r.id, r.payload) for r in records)
        if offset is None:
            return ids


def _delete_op(
    state: CollectionState, selector: qm.PointsSelector, flt: qm.Filter | None, event: WriteEvent
) -> Op:
    layout = yield from state.ensure_layout()
    if layout is None:
        return None
    if flt is not None and state.listeners():
        event = WriteEvent(
            event.kind,
            node_ids=(yield from _ids_matching(state, flt)),
            ref_doc_id=event.ref_doc_id,
        )
    call = Call(
        "delete", {"collection_name": state.name, "points_selector": selector, "wait": True}
    )
    try:
        layout, _ = yield from state.with_layout(lambda _layout: call)
    finally:
        state.invalidate()
    if layout is not None:
        state.notify(event)
    return None


def delete_ref_doc_op(state: CollectionState, ref_doc_id: str) -> Op:
    """Delete every node of document ``ref_doc_id``."""
    flt = qm.Filter(must=[qm.FieldCondition(key=DOC_ID_KEY, match=qm.MatchValue(value=ref_doc_id))])
    event = WriteEvent(WriteKind.DELETE, ref_doc_id=ref_doc_id)
    return (yield from _delete_op(state, qm.FilterSelector(filter=flt), flt, event))


def delete_nodes_op(
    state: CollectionState, node_ids: list[str] | None, filters: MetadataFilters | None
) -> Op:
    """Delete nodes by id and/or metadata filters."""
    if node_ids is None and filters is None:
        raise ValueError("delete_nodes needs node_ids and/or filters")
    event = WriteEvent(WriteKind.DELETE_NODES, node_ids=list(node_ids or []))
    if filters is None:
        point_ids: list[qm.ExtendedPointId] = [point_id_for(n) for n in node_ids or []]
        return (yield from _delete_op(state, qm.PointIdsList(points=point_ids), None, event))
    flt = query_filter(filters, None, [point_id_for(n) for n in node_ids] if node_ids else None)
    flt = flt or qm.Filter()
    return (yield from _delete_op(state, qm.FilterSelector(filter=flt), flt, event))


def clear_op(state: CollectionState) -> Op:
    """Drop the whole collection."""
    exists = yield Call("collection_exists", {"collection_name": state.name})
    try:
        if exists:
            yield Call("delete_collection", {"collection_name": state.name})
    finally:
        state.forget_layout()
        state.invalidate()
    state.notify(WriteEvent(WriteKind.CLEAR))
