"""Pure builders of the store's query requests and query-cache keys.

Both the sync and the async path call these, so a query means the same thing on both.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
from qdrant_client.http import models as qm

from ragdrop.core import validation as check
from ragdrop.vector_stores.mmr import MmrOptions
from ragdrop.vector_stores.points import validate_query_vector
from ragdrop.vector_stores.settings import CollectionLayout, CollectionSettings

SUPPORTED_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.HYBRID,
    VectorStoreQueryMode.MMR,
)
# Modes answered from the dense vector alone (no query text, no sparse vectors).
DENSE_MODES = (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR)


def check_query(query: VectorStoreQuery) -> None:
    """Raise ValueError for a mode or top-k this store cannot answer."""
    if query.mode not in SUPPORTED_MODES:
        allowed = [m.value for m in SUPPORTED_MODES]
        raise ValueError(f"query mode {query.mode.value!r} is not supported; allowed: {allowed}")
    if query.similarity_top_k < 1:
        raise ValueError(f"similarity_top_k={query.similarity_top_k} must be >= 1")
    if query.mode not in DENSE_MODES and not query.query_str:
        raise ValueError(f"mode {query.mode.value!r} needs query.query_str")


def search_params(
    kwargs: Mapping[str, object], settings: CollectionSettings
) -> qm.SearchParams | None:
    """``SearchParams`` from query kwargs (``search_params`` or ``hnsw_ef``/``exact``)."""
    params = kwargs.get("search_params")
    if isinstance(params, dict):
        return qm.SearchParams(**params)
    if params is not None:
        return check.instance("search_params", params, qm.SearchParams)
    hnsw_ef = check.optional_positive_int("hnsw_ef", kwargs.get("hnsw_ef"))
    exact = check.instance("exact", kwargs.get("exact"), bool, allow_none=True)
    return settings.search_params(hnsw_ef, exact)


def query_points_request(
    *,
    collection: str,
    query: VectorStoreQuery,
    layout: CollectionLayout,
    flt: qm.Filter | None,
    params: qm.SearchParams | None,
    sparse: qm.SparseVector | None,
    rrf_k: int,
    fusion: str = "rrf",
    mmr: MmrOptions | None = None,
    native_mmr: bool = True,
) -> dict[str, object]:
    """``query_points`` arguments: dense, sparse, or both fused by Qdrant (RRF or DBSF).

    MMR mode (``mmr`` given): Qdrant's own MMR when ``native_mmr``; otherwise the
    ``mmr.candidates`` nearest points with their dense vectors, for `mmr.mmr_select`.
    """
    base = {"collection_name": collection, "with_payload": True, "with_vectors": False}
    mode = query.mode
    if mode not in DENSE_MODES and (layout.sparse_name is None or sparse is None):
        raise ValueError(
            f"mode {mode.value!r} needs a collection with sparse vectors and a store with "
            "enable_hybrid=True"
        )
    using = layout.dense_name or None
    sparse_limit = query.sparse_top_k or query.similarity_top_k
    if mode == VectorStoreQueryMode.SPARSE:
        return base | {
            "query": sparse,
            "using": layout.sparse_name,
            "limit": sparse_limit,
            "query_filter": flt,
        }
    dense = validate_query_vector(query.query_embedding, layout.size, layout.distance)
    if mode == VectorStoreQueryMode.HYBRID:
        prefetch = [
            qm.Prefetch(
                query=dense, using=using, limit=query.similarity_top_k, filter=flt, params=params
            ),
            qm.Prefetch(query=sparse, using=layout.sparse_name, limit=sparse_limit, filter=flt),
        ]
        return base | {
            "prefetch": prefetch,
            "query": (
                qm.FusionQuery(fusion=qm.Fusion.DBSF)
                if fusion == "dbsf"
                else qm.RrfQuery(rrf=qm.Rrf(k=rrf_k))
            ),
            "limit": query.hybrid_top_k or query.similarity_top_k,
        }
    if mode == VectorStoreQueryMode.MMR:
        if mmr is None:
            raise ValueError("mode 'mmr' needs MMR options (see mmr.mmr_options)")
        search = {"using": using, "query_filter": flt, "search_params": params}
        if native_mmr:
            nearest = qm.NearestQuery(
                nearest=dense,
                mmr=qm.Mmr(diversity=mmr.diversity, candidates_limit=mmr.candidates),
            )
            return base | search | {"query": nearest, "limit": query.similarity_top_k}
        return (
            base
            | search
            | {
                "query": dense,
                "limit": mmr.candidates,
                "with_vectors": [layout.dense_name] if layout.dense_name else True,
            }
        )
    return base | {
        "query": dense,
        "using": using,
        "limit": query.similarity_top_k,
        "query_filter": flt,
        "search_params": params,
    }


def query_cache_fields(
    *,
    scope: str,
    collection: str,
    query: VectorStoreQuery,
    flt: qm.Filter | None,
    params: qm.SearchParams | None,
    rrf_k: int,
    fusion: str = "rrf",
    mmr: MmrOptions | None = None,
) -> dict[str, object]:
    """Everything that changes a query's answer, for the result cache key."""
    vector = query.query_embedding
    hybrid = query.mode == VectorStoreQueryMode.HYBRID
    fields: dict[str, object] = {
        "scope": scope,
        "collection": collection,
        "mode": query.mode.value,
        "vector": None if vector is None else np.asarray(vector, dtype=np.float64).tobytes(),
        "text": query.query_str if query.mode not in DENSE_MODES else None,
        "top_k": [query.similarity_top_k, query.sparse_top_k, query.hybrid_top_k],
        "filter": None if flt is None else flt.model_dump(mode="json", exclude_none=True),
        "params": None if params is None else params.model_dump(mode="json", exclude_none=True),
        "rrf_k": rrf_k if hybrid and fusion == "rrf" else None,
        "fusion": fusion if hybrid else None,
    }
    if mmr is not None:  # only MMR keys carry it, so other keys did not change with MMR
        fields["mmr"] = [mmr.threshold, mmr.candidates]
    return fields


__all__ = [
    "DENSE_MODES",
    "SUPPORTED_MODES",
    "check_query",
    "query_cache_fields",
    "query_points_request",
    "search_params",
]
