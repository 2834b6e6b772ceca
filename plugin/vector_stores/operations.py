"""Operations of `CachedQdrantVectorStore` beyond add/query/delete: health, backup, restore.

Written, like the store's own methods, as generators of client `Call`s, so the store's sync
and async drivers run the same code. Snapshots use qdrant-client's ``create_snapshot``,
``list_snapshots`` and ``recover_snapshot``; local mode has none (it raises
``NotImplementedError``), so there only the portable export is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qdrant_client.async_client_base import AsyncQdrantBase
from qdrant_client.client_base import QdrantBase
from qdrant_client.http import models as qm

from ragdrop.core.files import atomic_file, building_dir, create_file, open_nofollow
from ragdrop.core.protocols import WriteEvent, WriteKind
from ragdrop.vector_stores.calls import Call, Op
from ragdrop.vector_stores.collection import CollectionState
from ragdrop.vector_stores.export import (
    POINTS_FILE,
    layout_create_kwargs,
    point_from_json,
    point_to_json,
    read_manifest,
    write_manifest,
)
from ragdrop.vector_stores.settings import CollectionLayout, read_layout

# The client a backup reads its server's address from (``init_options``), if any.
ClientLike = QdrantBase | AsyncQdrantBase | None


def health_op(state: CollectionState) -> Op:
    """Reachability, status (with ``optimizer_error`` when red), point count, layout and config
    drift; never raises."""
    report: dict[str, Any] = {
        "collection": state.name,
        "reachable": False,
        "exists": False,
        "status": None,
        "optimizer_error": None,
        "points": None,
        "layout": None,
        "drift": [],
        "error": None,
    }
    try:
        exists = yield Call("collection_exists", {"collection_name": state.name})
        report["reachable"] = True
        report["exists"] = bool(exists)
        if exists:
            info = yield Call("get_collection", {"collection_name": state.name})
            layout = read_layout(info, state.name)
            count = yield Call("count", {"collection_name": state.name, "exact": True})
            report["status"] = str(getattr(info.status, "value", info.status))
            # a failed index build (status red): a server's optimizer or Edge's background one
            report["optimizer_error"] = getattr(info.optimizer_status, "error", None)
            report["points"] = int(count.count)
            report["layout"] = layout.model_dump()
            drift = state.fields.settings.drift(info, local=state.local)
            if state.fields.enable_hybrid and layout.sparse_name is None:
                drift.append("enable_hybrid=True but the collection has no sparse vector")
            report["drift"] = drift
    except Exception as exc:  # health reports, it never raises
        report["error"] = f"{type(exc).__name__}: {exc}"
    return report


def backup_op(state: CollectionState, client: ClientLike, path: Path, snapshot: bool) -> Op:
    """Portable export of the collection (and a server snapshot where supported)."""
    layout = yield from state.ensure_layout()
    if layout is None:
        raise ValueError(f"collection {state.name!r} does not exist; nothing to back up")
    # Everything is written into a new private folder beside ``path`` that replaces it whole
    # once complete: a kill leaves the older backup (or none), never half of this one, and
    # nothing is ever written through a link planted in ``path``.
    with building_dir(path) as scratch:
        snap_info: dict[str, Any] | None = None
        if snapshot:
            try:
                desc = yield Call("create_snapshot", {"collection_name": state.name, "wait": True})
                listed = yield Call("list_snapshots", {"collection_name": state.name})
                url = _snapshot_url(client, state.name, desc.name)
                downloaded = _download_snapshot(client, url, desc.name, scratch)
                snap_info = {
                    "name": desc.name,
                    "location": url,
                    "available": [s.name for s in listed],
                    "file": None if downloaded is None else str(path / desc.name),
                }
            except (NotImplementedError, AttributeError):
                snap_info = None  # local mode and adapters: portable export only
        count = 0
        digest = hashlib.sha256()
        with create_file(scratch / POINTS_FILE) as handle:
            offset = None
            while True:
                records, offset = yield Call(
                    "scroll",
                    {
                        "collection_name": state.name,
                        "limit": 512,
                        "offset": offset,
                        "with_payload": True,
                        "with_vectors": True,
                    },
                )
                for record in records:
                    line = json.dumps(point_to_json(record), ensure_ascii=False) + "\n"
                    data = line.encode("utf-8")
                    digest.update(data)
                    handle.write(data)
                count += len(records)
                if offset is None:
                    break
            handle.flush()
            os.fsync(handle.fileno())
        write_manifest(
            scratch,
            collection=state.name,
            layout=layout,
            settings=state.fields.settings,
            points=count,
            snapshot=snap_info,
            points_sha256=digest.hexdigest(),
        )
    return {"path": str(path), "points": count, "snapshot": snap_info}


def restore_op(
    state: CollectionState, client: ClientLike, path: Path, overwrite: bool, use_snapshot: bool
) -> Op:
    """Recreate the collection from a backup directory."""
    manifest = read_manifest(path)
    layout = CollectionLayout(**manifest["layout"])
    snap = manifest.get("snapshot")
    if use_snapshot:
        if not snap or state.local:
            raise ValueError(
                "use_snapshot=True needs a server client and a backup with a snapshot; "
                "use_snapshot=False restores the portable export instead"
            )
        location = snap.get("location") or (
            Path(snap["file"]).resolve().as_uri() if snap.get("file") else None
        )
        if location is None:
            raise ValueError(f"backup at {str(path)!r} has no snapshot file or location")
        try:
            yield Call(
                "recover_snapshot",
                {"collection_name": state.name, "location": location, "wait": True},
            )
        finally:
            state.forget_layout()
            state.invalidate()
        state.notify(WriteEvent(WriteKind.RESTORE))
        return {"points": manifest.get("points"), "snapshot": True}
    expected = manifest.get("points")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise ValueError(f"backup at {str(path)!r}: manifest has no valid point count")
    _check_points_sha256(path, manifest.get("points_sha256"))
    # Check the whole export before touching the live collection.
    seen: set[str] = set()
    for lineno, point in _read_points(path, layout):
        if str(point.id) in seen:
            raise ValueError(
                f"backup at {str(path)!r}: {POINTS_FILE} line {lineno} repeats point {point.id!r}"
            )
        seen.add(str(point.id))
    if len(seen) != expected:
        raise ValueError(
            f"backup at {str(path)!r} is incomplete or corrupt: {POINTS_FILE} holds "
            f"{len(seen)} points, the manifest says {expected}"
        )
    del seen
    exists = yield Call("collection_exists", {"collection_name": state.name})
    if exists:
        if not overwrite:
            raise ValueError(
                f"collection {state.name!r} already exists and overwrite=False; "
                "pass overwrite=True to replace it or restore into another collection"
            )
        yield Call("delete_collection", {"collection_name": state.name})
    state.forget_layout()
    count = 0
    try:
        yield Call(
            "create_collection",
            layout_create_kwargs(state.fields.settings, state.name, layout),
        )
        batch: list[qm.PointStruct] = []
        for _, point in _read_points(path, layout):
            batch.append(point)
            if len(batch) >= state.fields.batch_size:
                yield Call(
                    "upsert",
                    {"collection_name": state.name, "points": batch, "wait": True},
                )
                count += len(batch)
                batch = []
        if batch:
            yield Call(
                "upsert",
                {"collection_name": state.name, "points": batch, "wait": True},
            )
            count += len(batch)
        stored = yield Call("count", {"collection_name": state.name, "exact": True})
    finally:
        state.invalidate()
    state.notify(WriteEvent(WriteKind.RESTORE))
    if int(stored.count) != expected:
        raise ValueError(
            f"restore from {str(path)!r} left {int(stored.count)} points in collection "
            f"{state.name!r}, the manifest says {expected}"
        )
    return {"points": count, "snapshot": False}


def _read_points(path: Path, layout: CollectionLayout) -> Iterator[tuple[int, qm.PointStruct]]:
    """(line number, point) of each exported line; ValueError naming the backup otherwise."""
    try:
        with open_nofollow(Path(path) / POINTS_FILE, "r") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    point = point_from_json(json.loads(line), layout)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise ValueError(
                        f"backup at {str(path)!r} is corrupt: {POINTS_FILE} line {lineno}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                yield lineno, point
    except OSError as exc:
        raise ValueError(f"backup at {str(path)!r}: cannot read {POINTS_FILE}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"backup at {str(path)!r}: {POINTS_FILE} is not UTF-8: {exc}") from exc


def _snapshot_url(client: Any, collection: str, name: str) -> str | None:
    """The REST URL of a server snapshot (from the client's init options), or None."""
    opts = getattr(client, "init_options", None) or {}
    base = opts.get("url") or (
        f"{'https' if opts.get('https') else 'http'}://{opts['host']}:{opts.get('port') or 6333}"
        if opts.get("host")
        else None
    )
    if not base:
        return None
    return f"{base.rstrip('/')}/collections/{collection}/snapshots/{name}"


def _download_snapshot(client: Any, url: str | None, name: str, path: Path) -> str | None:
    """Download a server snapshot over REST (qdrant-client has no download call)."""
    if url is None:
        return None
    opts = getattr(client, "init_options", None) or {}
    request = urllib.request.Request(url)  # noqa: S310 - URL is the user's Qdrant server
    if opts.get("api_key"):
        request.add_header("api-key", str(opts["api_key"]))
    target = path / name
    with urllib.request.urlopen(request, timeout=600) as response, atomic_file(target) as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            out.write(chunk)
    return str(target)


__all__ = ["backup_op", "health_op", "restore_op"]


def _check_points_sha256(path: Path, expected: object) -> None:
    """The points file is the one the backup wrote (backups without a checksum are older)."""
    if expected is None:
        return
    digest = hashlib.sha256()
    try:
        with open_nofollow(Path(path) / POINTS_FILE, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ValueError(f"backup at {str(path)!r}: cannot read {POINTS_FILE}: {exc}") from exc
    if digest.hexdigest() != expected:
        raise ValueError(
            f"backup at {str(path)!r} is incomplete or corrupt: {POINTS_FILE} does not match the "
            "checksum in its manifest; nothing was changed"
        )
