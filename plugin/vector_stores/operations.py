"""Operations of `CachedQdrantVectorStore` beyond add/query/delete: health, backup, restore.

Written, like the store's own methods, as generators of client `Call`s, so the store's sync
and async drivers run the same code. Snapshots use qdrant-client's ``create_snapshot``,
``list_snapshots`` and ``recover_snapshot``; local mode has none (it raises
``NotImplementedError``), so there only the portable export is written.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qdrant_client.http import models as qm
from ragdrop.vector_stores.calls import Call, Op, WriteEvent
from ragdrop.vector_stores.export import (
    MANIFEST_FILE,
    POINTS_FILE,
    layout_create_kwargs,
    point_from_json,
    point_to_json,
    read_manifest,
    write_manifest,
)
from ragdrop.vector_stores.settings import CollectionLayout, read_layout

if TYPE_CHECKING:
    from ragdrop.vector_stores.qdrant import CachedQdrantVectorStore


def health_op(store: CachedQdrantVectorStore) -> Op:
    """Reachability, status, point count, layout and config drift; never raises."""
    report: dict[str, Any] = {
        "collection": store.collection_name,
        "reachable": False,
        "exists": False,
        "status": None,
        "points": None,
        "layout": None,
        "drift": [],
        "error": None,
    }
    try:
        exists = yield Call("collection_exists", {"collection_name": store.collection_name})
        report["reachable"] = True
        report["exists"] = bool(exists)
        if exists:
            info = yield Call("get_collection", {"collection_name": store.collection_name})
            layout = read_layout(info, store.collection_name)
            count = yield Call("count", {"collection_name": store.collection_name, "exact": True})
            report["status"] = str(getattr(info.status, "value", info.status))
            report["points"] = int(count.count)
            report["layout"] = layout.model_dump()
            drift = store.settings.drift(info, local=store._local)
            if store.enable_hybrid and layout.sparse_name is None:
                drift.append("enable_hybrid=True but the collection has no sparse vector")
            report["drift"] = drift
    except Exception as exc:  # health reports, it never raises
        report["error"] = f"{type(exc).__name__}: {exc}"
    return report


def backup_op(store: CachedQdrantVectorStore, path: Path, snapshot: bool) -> Op:
    """Portable export of the collection (and a server snapshot where supported)."""
    layout = yield from store._ensure_layout()
    if layout is None:
        raise ValueError(f"collection {store.collection_name!r} does not exist; nothing to back up")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    # An older backup here stops being one before anything of the new one is written: a
    # failure below leaves no manifest, so nothing half-written reads as a complete backup.
    (path / MANIFEST_FILE).unlink(missing_ok=True)
    _fsync_dir(path)
    snap_info: dict[str, Any] | None = None
    if snapshot:
        try:
            desc = yield Call(
                "create_snapshot", {"collection_name": store.collection_name, "wait": True}
            )
            listed = yield Call("list_snapshots", {"collection_name": store.collection_name})
            url = _snapshot_url(store.client or store.aclient, store.collection_name, desc.name)
            snap_info = {
                "name": desc.name,
                "location": url,
                "available": [s.name for s in listed],
                "file": _download_snapshot(store.client or store.aclient, url, desc.name, path),
            }
        except (NotImplementedError, AttributeError):
            snap_info = None  # local mode and adapters: portable export only
    count = 0
    fd, tmp_name = tempfile.mkstemp(dir=path, prefix=f".{POINTS_FILE}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            offset = None
            while True:
                records, offset = yield Call(
                    "scroll",
                    {
                        "collection_name": store.collection_name,
                        "limit": 512,
                        "offset": offset,
                        "with_payload": True,
                        "with_vectors": True,
                    },
                )
                for record in records:
                    handle.write(json.dumps(point_to_json(record), ensure_ascii=False) + "\n")
                count += len(records)
                if offset is None:
                    break
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path / POINTS_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    _write_manifest_atomic(
        path,
        collection=store.collection_name,
        layout=layout,
        settings=store.settings,
        points=count,
        snapshot=snap_info,
    )
    return {"path": str(path), "points": count, "snapshot": snap_info}


def restore_op(
    store: CachedQdrantVectorStore, path: Path, overwrite: bool, use_snapshot: bool
) -> Op:
    """Recreate the collection from a backup directory."""
    manifest = read_manifest(path)
    layout = CollectionLayout(**manifest["layout"])
    snap = manifest.get("snapshot")
    if use_snapshot:
        if not snap or store._local:
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
                {"collection_name": store.collection_name, "location": location, "wait": True},
            )
        finally:
            store._layout = None
            store._bump()
        store._notify(WriteEvent("restore"))
        return {"points": manifest.get("points"), "snapshot": True}
    expected = manifest.get("points")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise ValueError(f"backup at {str(path)!r}: manifest has no valid point count")
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
    exists = yield Call("collection_exists", {"collection_name": store.collection_name})
    if exists:
        if not overwrite:
            raise ValueError(
                f"collection {store.collection_name!r} already exists and overwrite=False; "
                "pass overwrite=True to replace it or restore into another collection"
            )
        yield Call("delete_collection", {"collection_name": store.collection_name})
    store._layout = None
    count = 0
    try:
        yield Call(
            "create_collection",
            layout_create_kwargs(store.settings, store.collection_name, layout),
        )
        batch: list[qm.PointStruct] = []
        for _, point in _read_points(path, layout):
            batch.append(point)
            if len(batch) >= store.batch_size:
                yield Call(
                    "upsert",
                    {"collection_name": store.collection_name, "points": batch, "wait": True},
                )
                count += len(batch)
                batch = []
        if batch:
            yield Call(
                "upsert",
                {"collection_name": store.collection_name, "points": batch, "wait": True},
            )
            count += len(batch)
        stored = yield Call("count", {"collection_name": store.collection_name, "exact": True})
    finally:
        store._bump()
    store._notify(WriteEvent("restore"))
    if int(stored.count) != expected:
        raise ValueError(
            f"restore from {str(path)!r} left {int(stored.count)} points in collection "
            f"{store.collection_name!r}, the manifest says {expected}"
        )
    return {"points": count, "snapshot": False}


def _read_points(path: Path, layout: CollectionLayout) -> Iterator[tuple[int, qm.PointStruct]]:
    """(line number, point) of each exported line; ValueError naming the backup otherwise."""
    try:
        with (Path(path) / POINTS_FILE).open(encoding="utf-8") as handle:
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


def _fsync_dir(path: Path) -> None:
    """Make renames and unlinks in ``path`` durable where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directories cannot be opened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_manifest_atomic(path: Path, **fields: Any) -> None:
    """`write_manifest` into a scratch directory, then one ``os.replace`` into ``path``."""
    scratch = Path(tempfile.mkdtemp(dir=path, prefix=f".{MANIFEST_FILE}."))
    try:
        write_manifest(scratch, **fields)
        with (scratch / MANIFEST_FILE).open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(scratch / MANIFEST_FILE, path / MANIFEST_FILE)
        _fsync_dir(path)
    finally:
        (scratch / MANIFEST_FILE).unlink(missing_ok=True)
        scratch.rmdir()


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
    with urllib.request.urlopen(request, timeout=600) as response, target.open("wb") as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            out.write(chunk)
    return str(target)


__all__ = ["backup_op", "health_op", "restore_op"]
