"""`CollectionSettings`: every Qdrant collection option we expose, validated in one object.

It builds the ``create_collection`` arguments, the per-query ``SearchParams`` and compares a
live collection against itself (vector size and distance mismatches are errors; the rest is
reported as drift by ``health()``).

Example:
    >>> settings = CollectionSettings(distance="Dot", hnsw_m=32, quantization="scalar",
    ...                               payload_indexes={"year": "integer"})
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from qdrant_client.http import models as qm

from ragdrop.core.validation import Float, Int

DENSE_VECTOR_NAME = "text-dense"
SPARSE_VECTOR_NAME = "text-sparse-new"
LEGACY_SPARSE_VECTOR_NAME = "text-sparse"

Distance = Literal["Cosine", "Dot", "Euclid", "Manhattan"]
Quantization = Literal["scalar", "product", "binary"]
PayloadIndexType = Literal["keyword", "integer", "float", "text", "bool", "datetime", "uuid"]


class CollectionLayout(BaseModel):
    """How points of a live collection are laid out (read from ``get_collection``)."""

    model_config = ConfigDict(frozen=True)

    size: int
    distance: str
    dense_name: str  # "" for the unnamed vector of non-hybrid LlamaIndex collections
    sparse_name: str | None
    sparse_idf: bool = False


class CollectionSettings(BaseModel):
    """Validated Qdrant collection options and query-time search defaults.

    Args:
        distance: similarity of the dense vectors.
        hnsw_m, hnsw_ef_construct, hnsw_on_disk: HNSW graph options.
        vectors_on_disk: keep dense vectors in memmapped files.
        quantization: ``scalar`` (int8), ``product`` or ``binary``; None for none.
        quantization_always_ram: keep quantized vectors in RAM.
        product_compression: ratio for product quantization.
        rescore, oversampling: query-time use of the original vectors after quantized search.
        hnsw_ef, exact: default per-query search parameters.
        shard_number, replication_factor, write_consistency_factor: cluster layout.
        on_disk_payload: payloads read from disk instead of RAM.
        payload_indexes: field name → index type for filtered fields.
        index_doc_id: keyword index on ``doc_id`` (as LlamaIndex's store creates).

    Example:
        >>> params = CollectionSettings(quantization="binary", oversampling=2.0).search_params()
        >>> params.exact, params.quantization.oversampling
        (False, 2.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    distance: Distance = Field(default="Cosine", description="Dense vector similarity.")
    hnsw_m: Int | None = Field(default=None, ge=0, le=1024, description="HNSW edges per node.")
    hnsw_ef_construct: Int | None = Field(
        default=None, ge=4, le=100_000, description="HNSW build-time candidate list size."
    )
    hnsw_on_disk: bool | None = Field(default=None, description="Store the HNSW graph on disk.")
    vectors_on_disk: bool | None = Field(default=None, description="Dense vectors on disk.")
    quantization: Quantization | None = Field(default=None, description="Vector quantization.")
    quantization_always_ram: bool | None = Field(
        default=None, description="Keep quantized vectors in RAM."
    )
    product_compression: Literal["x4", "x8", "x16", "x32", "x64"] = Field(
        default="x16", description="Compression ratio of product quantization."
    )
    rescore: bool | None = Field(
        default=None, description="Re-score quantized hits with the original vectors."
    )
    oversampling: Float | None = Field(
        default=None, ge=1.0, le=100.0, description="Fetch this many times top_k, then rescore."
    )
    hnsw_ef: Int | None = Field(default=None, ge=1, description="Default query-time HNSW ef.")
    exact: bool = Field(default=False, description="Default to exact (brute-force) search.")
    shard_number: Int | None = Field(default=None, ge=1, description="Shards per collection.")
    replication_factor: Int | None = Field(default=None, ge=1, description="Replicas per shard.")
    write_consistency_factor: Int | None = Field(
        default=None, ge=1, description="Replicas that must confirm a write."
    )
    on_disk_payload: bool | None = Field(default=None, description="Payloads on disk.")
    payload_indexes: dict[str, PayloadIndexType] = Field(
        default_factory=dict, description="Field name → payload index type."
    )
    index_doc_id: bool = Field(default=True, description="Keyword index on doc_id.")

    # -- create ----------------------------------------------------------------------------
    def _quantization_config(self) -> Any:
        if self.quantization == "scalar":
            return qm.ScalarQuantization(
                scalar=qm.ScalarQuantizationConfig(
                    type=qm.ScalarType.INT8, always_ram=self.quantization_always_ram
                )
            )
        if self.quantization == "product":
            return qm.ProductQuantization(
                product=qm.ProductQuantizationConfig(
                    compression=qm.CompressionRatio(self.product_compression),
                    always_ram=self.quantization_always_ram,
                )
            )
        if self.quantization == "binary":
            return qm.BinaryQuantization(
                binary=qm.BinaryQuantizationConfig(always_ram=self.quantization_always_ram)
            )
        return None

    def _hnsw(self) -> qm.HnswConfigDiff | None:
        if self.hnsw_m is None and self.hnsw_ef_construct is None and self.hnsw_on_disk is None:
            return None
        return qm.HnswConfigDiff(
            m=self.hnsw_m, ef_construct=self.hnsw_ef_construct, on_disk=self.hnsw_on_disk
        )

    def create_kwargs(
        self, collection_name: str, size: int, *, hybrid: bool, sparse_idf: bool = True
    ) -> dict[str, Any]:
        """Keyword arguments of ``client.create_collection`` for this layout.

        Non-hybrid collections use one unnamed vector and hybrid ones the names
        ``text-dense``/``text-sparse-new``, exactly as LlamaIndex's ``QdrantVectorStore``.
        """
        dense = qm.VectorParams(
            size=size, distance=qm.Distance(self.distance), on_disk=self.vectors_on_disk
        )
        kwargs: dict[str, Any] = {
            "collection_name": collection_name,
            "vectors_config": {DENSE_VECTOR_NAME: dense} if hybrid else dense,
            "hnsw_config": self._hnsw(),
            "quantization_config": self._quantization_config(),
            "shard_number": self.shard_number,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor,
            "on_disk_payload": self.on_disk_payload,
        }
        if hybrid:
            kwargs["sparse_vectors_config"] = {
                SPARSE_VECTOR_NAME: qm.SparseVectorParams(
                    index=qm.SparseIndexParams(),
                    modifier=qm.Modifier.IDF if sparse_idf else None,
                )
            }
        return kwargs

    def payload_index_kwargs(self, collection_name: str) -> list[dict[str, Any]]:
        """Keyword arguments of each ``client.create_payload_index`` call."""
        indexes = dict(self.payload_indexes)
        if self.index_doc_id:
            indexes.setdefault("doc_id", "keyword")
        return [
            {
                "collection_name": collection_name,
                "field_name": field,
                "field_schema": qm.PayloadSchemaType(kind),
                "wait": True,
            }
            for field, kind in sorted(indexes.items())
        ]

    # -- query -----------------------------------------------------------------------------
    def search_params(self, hnsw_ef: int | None = None, exact: bool | None = None) -> Any:
        """``SearchParams`` for one query; arguments override the defaults (None: unset)."""
        ef = hnsw_ef if hnsw_ef is not None else self.hnsw_ef
        use_exact = self.exact if exact is None else exact
        quant = None
        if self.rescore is not None or self.oversampling is not None:
            quant = qm.QuantizationSearchParams(
                rescore=self.rescore, oversampling=self.oversampling
            )
        if ef is None and not use_exact and quant is None:
            return None
        return qm.SearchParams(hnsw_ef=ef, exact=use_exact, quantization=quant)

    # -- compare ---------------------------------------------------------------------------
    def drift(self, info: Any, *, local: bool) -> list[str]:
        """Differences between these settings and a live collection (``get_collection``).

        Local mode does not keep HNSW, quantization or cluster settings, so only the vector
        layout is compared there.
        """
        params = info.config.params
        out: list[str] = []
        vectors = params.vectors
        dense = (
            vectors.get(DENSE_VECTOR_NAME) or vectors.get("")
            if isinstance(vectors, dict)
            else vectors
        )
        if dense is not None and str(_enum_value(dense.distance)) != self.distance:
            out.append(
                f"distance: collection {_enum_value(dense.distance)}, settings {self.distance}"
            )
        if local:
            return out
        hnsw = info.config.hnsw_config
        if self.hnsw_m is not None and hnsw is not None and hnsw.m != self.hnsw_m:
            out.append(f"hnsw_m: collection {hnsw.m}, settings {self.hnsw_m}")
        if (
            self.hnsw_ef_construct is not None
            and hnsw is not None
            and hnsw.ef_construct != self.hnsw_ef_construct
        ):
            out.append(
                f"hnsw_ef_construct: collection {hnsw.ef_construct}, "
                f"settings {self.hnsw_ef_construct}"
            )
        live_quant = _quantization_kind(info.config.quantization_config)
        if live_quant != self.quantization:
            out.append(f"quantization: collection {live_quant}, settings {self.quantization}")
        for name in ("shard_number", "replication_factor", "write_consistency_factor"):
            want = getattr(self, name)
            have = getattr(params, name, None)
            if want is not None and have is not None and want != have:
                out.append(f"{name}: collection {have}, settings {want}")
        return out


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _quantization_kind(config: Any) -> str | None:
    if config is None:
        return None
    for kind in ("scalar", "product", "binary"):
        if getattr(config, kind, None) is not None:
            return kind
    return None


def read_layout(info: Any, collection_name: str) -> CollectionLayout:
    """The `CollectionLayout` of a live collection; ValueError if it has no dense vector."""
    params = info.config.params
    vectors = params.vectors
    if isinstance(vectors, dict):
        if DENSE_VECTOR_NAME in vectors:
            name = DENSE_VECTOR_NAME
        elif "" in vectors:
            name = ""
        elif len(vectors) == 1:
            name = next(iter(vectors))
        else:
            raise ValueError(
                f"collection {collection_name!r} has dense vectors {sorted(vectors)}; "
                f"expected {DENSE_VECTOR_NAME!r} or one unnamed vector"
            )
        dense = vectors[name]
    elif vectors is not None:
        name, dense = "", vectors
    else:
        raise ValueError(f"collection {collection_name!r} has no dense vector")
    sparse = params.sparse_vectors or {}
    sparse_name = None
    for candidate in (SPARSE_VECTOR_NAME, LEGACY_SPARSE_VECTOR_NAME):
        if candidate in sparse:
            sparse_name = candidate
            break
    idf = bool(sparse_name and sparse[sparse_name].modifier == qm.Modifier.IDF)
    return CollectionLayout(
        size=int(dense.size),
        distance=str(_enum_value(dense.distance)),
        dense_name=name,
        sparse_name=sparse_name,
        sparse_idf=idf,
    )


__all__ = [
    "DENSE_VECTOR_NAME",
    "LEGACY_SPARSE_VECTOR_NAME",
    "SPARSE_VECTOR_NAME",
    "CollectionLayout",
    "CollectionSettings",
    "read_layout",
]
