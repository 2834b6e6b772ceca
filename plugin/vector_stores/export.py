"""Portable collection export: JSON lines of points plus a JSON manifest, nothing executable.

Dense vectors are base64 of little-endian float32 (what Qdrant stores, so exact);
sparse vectors are index/value lists; payloads are the JSON Qdrant returned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client.http import models as qm

from ragdrop.core.files import atomic_write_text, open_nofollow, read_json
from ragdrop.vector_stores.settings import CollectionLayout, CollectionSettings

EXPORT_FORMAT = "ragdrop-qdrant-export"
EXPORT_VERSION = 1
MANIFEST_FILE = "manifest.json"
POINTS_FILE = "points.jsonl"


def _encode_dense(vector: Any) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _decode_dense(text: str, size: int) -> list[float]:
    array = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4")
    if array.shape != (size,):
        raise ValueError(f"export: dense vector has {array.size} values, expected {size}")
    return array.astype(np.float64).tolist()


def point_to_json(record: Any) -> dict[str, Any]:
    """One scrolled point (with vectors and payload) as a JSON-safe dict."""
    vectors: dict[str, Any] = {}
    raw = record.vector
    items = raw.items() if isinstance(raw, dict) else [("", raw)]
    for name, value in items:
        if value is None:
            continue
        if isinstance(value, qm.SparseVector):
            vectors[name] = {
                "sparse": {"indices": list(value.indices), "values": list(value.values)}
            }
        else:
            vectors[name] = {"dense_f32_b64": _encode_dense(value)}
    return {"id": str(record.id), "vectors": vectors, "payload": record.payload or {}}


def point_from_json(data: dict[str, Any], layout: CollectionLayout) -> qm.PointStruct:
    """The `PointStruct` of an exported line, checked against ``layout``."""
    if not isinstance(data, dict) or not isinstance(data.get("vectors"), dict):
        raise ValueError("export: malformed point line")
    vectors: dict[str, Any] = {}
    for name, value in data["vectors"].items():
        if "dense_f32_b64" in value:
            vectors[name] = _decode_dense(value["dense_f32_b64"], layout.size)
        elif "sparse" in value:
            sparse = value["sparse"]
            vectors[name] = qm.SparseVector(
                indices=[int(i) for i in sparse["indices"]],
                values=[float(v) for v in sparse["values"]],
            )
        else:
            raise ValueError(f"export: vector {name!r} has an unknown encoding")
    vector: Any = vectors[""] if list(vectors) == [""] else vectors
    payload = data.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValueError("export: payload is not an object")
    return qm.PointStruct(id=str(data["id"]), vector=vector, payload=payload)


def write_manifest(
    path: Path,
    *,
    collection: str,
    layout: CollectionLayout,
    settings: CollectionSettings,
    points: int,
    snapshot: dict[str, Any] | None,
    points_sha256: str | None = None,
) -> None:
    """Write the manifest of export directory ``path`` atomically (last, once points are in).

    ``points_sha256`` is the SHA-256 of the points file, checked before a restore uses it.
    """
    manifest = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "collection": collection,
        "layout": layout.model_dump(),
        "settings": settings.model_dump(mode="json"),
        "points": points,
        "points_sha256": points_sha256,
        "snapshot": snapshot,
    }
    atomic_write_text(Path(path) / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of an export directory; ValueError if it is not one."""
    file = Path(path) / MANIFEST_FILE
    if not file.is_file():
        raise ValueError(f"{str(path)!r} is not a backup directory: {MANIFEST_FILE} missing")
    manifest = read_json(file)
    if not isinstance(manifest, dict):
        raise ValueError(f"{str(file)!r} is not a backup manifest: not a JSON object")
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("version") != EXPORT_VERSION:
        raise ValueError(
            f"{str(file)!r}: unsupported backup format {manifest.get('format')!r} "
            f"version {manifest.get('version')!r}"
        )
    return dict(manifest)


def iter_point_lines(path: Path, layout: CollectionLayout) -> Iterator[qm.PointStruct]:
    with open_nofollow(Path(path) / POINTS_FILE, "r") as handle:
        for line in handle:
            if line.strip():
                yield point_from_json(json.loads(line), layout)


def layout_create_kwargs(
    settings: CollectionSettings, collection: str, layout: CollectionLayout
) -> dict[str, Any]:
    """``create_collection`` arguments reproducing an exported layout exactly."""
    kwargs = settings.model_copy(update={"distance": layout.distance}).create_kwargs(
        collection, layout.size, hybrid=layout.sparse_name is not None, sparse_idf=layout.sparse_idf
    )
    dense = kwargs["vectors_config"]
    if isinstance(dense, dict):
        dense = next(iter(dense.values()))
    kwargs["vectors_config"] = {layout.dense_name: dense} if layout.dense_name else dense
    if layout.sparse_name is not None:
        params = next(iter(kwargs["sparse_vectors_config"].values()))
        kwargs["sparse_vectors_config"] = {layout.sparse_name: params}
    return kwargs


__all__ = [
    "EXPORT_FORMAT",
    "MANIFEST_FILE",
    "POINTS_FILE",
    "iter_point_lines",
    "layout_create_kwargs",
    "point_from_json",
    "point_to_json",
    "read_manifest",
    "write_manifest",
]
