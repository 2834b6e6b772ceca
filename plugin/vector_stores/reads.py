"""The store's reads as operations (generators of client calls): query, pages of nodes.

A query is answered from the query cache when a result computed in the current epoch is
there; otherwise from Qdrant, and the result is cached under the epoch it was computed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from qdrant_client.http import models as qm

from ragdrop.cache.node_copies import fresh_copy
from ragdrop.core import validation as check
from ragdrop.observability.stages import Stage, stage
from ragdrop.vector_stores.calls import Call, Op
from ragdrop.vector_stores.collection import CollectionState
from ragdrop.vector_stores.filters import query_filter
from ragdrop.vector_stores.mmr import MmrOptions, mmr_options, mmr_select
from ragdrop.vector_stores.points import (
    SparseEncoder,
    hits_to_json,
    node_from_payload,
    point_id_for,
    result_from_json,
)
from ragdrop.vector_stores.requests import (
    DENSE_MODES,
    check_query,
    query_cache_fields,
    query_points_request,
    search_params,
)
from ragdrop.vector_stores.settings import CollectionLayout


def _sparse_query(
    query: VectorStoreQuery, sparse_query_fn: SparseEncoder | None
) -> qm.SparseVector | None:
    if query.mode in DENSE_MODES or sparse_query_fn is None:
        return None
    indices, values = sparse_query_fn([query.query_str or ""])
    return qm.SparseVector(indices=list(indices[0]), values=list(values[0]))


def _mmr_pick(
    points: Sequence[qm.ScoredPoint],
    query: VectorStoreQuery,
    layout: CollectionLayout,
    mmr: MmrOptions,
) -> list[qm.ScoredPoint]:
    """The candidates MMR keeps, in pick order (client-side MMR on local mode and Edge)."""
    vectors: list[object] = []
    for point in points:
        stored = point.vector
        vector = stored.get(layout.dense_name) if isinstance(stored, dict) else stored
        if vector is None or isinstance(vector, qm.SparseVector):
            raise ValueError(f"point {point.id}: no dense vector came back for MMR")
        vectors.append(vector)
    if not vectors:
        return []
    picked = mmr_select(
        np.asarray(query.query_embedding, dtype=np.float64),
        np.asarray(vectors, dtype=np.float64),
        query.similarity_top_k,
        mmr.threshold,
        layout.distance,
    )
    return [points[i] for i in picked]


def copy_result(template: VectorStoreQueryResult) -> VectorStoreQueryResult:
    """A result sharing nothing mutable with ``template`` (a decoded cache entry)."""
    return VectorStoreQueryResult(
        nodes=None if template.nodes is None else [fresh_copy(n) for n in template.nodes],
        similarities=None if template.similarities is None else list(template.similarities),
        ids=None if template.ids is None else list(template.ids),
    )


def query_op(
    state: CollectionState,
    query: VectorStoreQuery,
    kwargs: Mapping[str, object],
    sparse_query_fn: SparseEncoder | None,
) -> Op:
    """Top-k nodes for ``query`` (dense, sparse, hybrid or MMR), through the query cache.

    MMR scores are each node's similarity to the query (the score plain mode gives it), in
    MMR's pick order; Qdrant's query API does the same.
    """
    check_query(query)
    mmr = None
    if query.mode == VectorStoreQueryMode.MMR:
        mmr = mmr_options(kwargs, query.similarity_top_k)
    flt = check.instance("qdrant_filters", kwargs.get("qdrant_filters"), qm.Filter, allow_none=True)
    if flt is None:
        # An empty id list constrains nothing here, as in LlamaIndex's QdrantVectorStore:
        # VectorStoreIndex.as_retriever() passes node_ids=[] when the store holds the text.
        node_point_ids = [point_id_for(n) for n in query.node_ids] if query.node_ids else None
        flt = query_filter(query.filters, query.doc_ids or None, node_point_ids)
    params = search_params(dict(kwargs), state.fields.settings)
    if state.local:
        params = None  # local mode searches exactly and warns on every query with params
    rrf_k = state.fields.rrf_k
    fusion = state.fields.hybrid_fusion
    cache = state.fields.query_cache
    key = epoch = None
    if cache is not None:
        epoch = yield from state.epoch_op()
        with stage(Stage.CACHE):
            fields = query_cache_fields(
                scope=state.scope,
                collection=state.name,
                query=query,
                flt=flt,
                params=params,
                rrf_k=rrf_k,
                fusion=fusion,
                mmr=mmr,
            )
            key = cache.key(epoch, **fields)
            hit = cache.get_decoded(key, state.decode_result)
        if hit is not None:
            return copy_result(hit)
    with stage(Stage.VECTOR):
        sparse = _sparse_query(query, sparse_query_fn)
        layout, response = yield from state.with_layout(
            lambda layout: Call(
                "query_points",
                query_points_request(
                    collection=state.name,
                    query=query,
                    layout=layout,
                    flt=flt,
                    params=params,
                    sparse=sparse,
                    rrf_k=rrf_k,
                    fusion=fusion,
                    mmr=mmr,
                    native_mmr=state.native_mmr,
                ),
            )
        )
        if layout is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        points = response.points
        if mmr is not None and not state.native_mmr:
            points = _mmr_pick(points, query, layout, mmr)
        data = hits_to_json(points)
    if cache is not None and key is not None and epoch is not None:
        with stage(Stage.CACHE):
            cache.put(key, data, scope=state.scope, collection=state.name, epoch=epoch)
    return result_from_json(data, state.fields.text_key)


def page_op(
    state: CollectionState,
    flt: qm.Filter | None,
    offset: qm.ExtendedPointId | None,
    limit: int,
    with_vectors: bool,
) -> Op:
    """One page of stored nodes (and the offset of the next page, None at the end)."""
    layout = yield from state.ensure_layout()
    if layout is None:
        return [], None
    records, next_offset = yield Call(
        "scroll",
        {
            "collection_name": state.name,
            "scroll_filter": flt,
            "limit": limit,
            "offset": offset,
            "with_payload": True,
            "with_vectors": [layout.dense_name]
            if with_vectors and layout.dense_name
            else with_vectors,
        },
    )
    nodes = []
    for record in records:
        node = node_from_payload(record.id, record.payload or {}, state.fields.text_key)
        vector = record.vector
        if isinstance(vector, dict):
            vector = vector.get(layout.dense_name)
        if with_vectors and vector is not None and node.embedding is None:
            node.embedding = list(vector)
        nodes.append(node)
    return nodes, next_offset


def get_nodes_op(
    state: CollectionState,
    node_ids: list[str] | None,
    filters: MetadataFilters | None,
    limit: int | None,
) -> Op:
    """Stored nodes (with embeddings) by id and/or filters."""
    point_ids = [point_id_for(n) for n in node_ids] if node_ids else None
    flt = query_filter(filters, None, point_ids)
    if node_ids is not None and not node_ids:
        return []
    wanted = limit if limit is not None else (len(node_ids) if node_ids else None)
    out: list[BaseNode] = []
    offset = None
    while wanted is None or len(out) < wanted:
        page = 256 if wanted is None else min(256, wanted - len(out))
        nodes, offset = yield from page_op(state, flt, offset, page, True)
        out.extend(nodes)
        if offset is None:
            break
    return out
