"""Restore an embedded index from a backup without ever leaving a mixed one.

The backup is restored into a new index beside the live one (``data_dir/qdrant.restore-T``),
checked (every point, vector names and sizes, the point count, the backup's manifest against
the points' documents), and only then switched in:

1. a journal (``data_dir/restore-journal.json``, written atomically) records the switch;
2. the live index is renamed aside, the new one renamed into place, the backup's manifest
   put in place (or the old manifest removed), the BM25 state and the query cache dropped
   (they describe the old points and are rebuilt from the new ones);
3. the journal is removed, then the old index.

`recover_data_dir` runs whenever a pipeline opens the data dir (under its writer lock): with
a journal it finishes the switch (the new index was complete before the journal existed);
without one it removes what a killed restore left half-built. A kill at any instant therefore
leaves the old index answering or the new one complete, never a mix. A settings rebuild
(`ragdrop.pipeline.rebuild`) stages its new index the same way and switches it in with
`switch_in`. On a Qdrant server the new index is a collection switched in with an alias
(`ragdrop.pipeline.collection_switch`); the data dir's files follow through the same journal.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from ragdrop.cache.backend import open_cache, redact_url
from ragdrop.core.files import atomic_write_bytes, atomic_write_json, fsync_dir, read_bytes
from ragdrop.core.files import read_json as read_json_file
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.manifest import ManifestError
from ragdrop.vector_stores import CachedQdrantVectorStore, embedded_client
from ragdrop.vector_stores.export import read_manifest

JOURNAL = "restore-journal.json"
STAGING = "qdrant.restore-"
RETIRED = "qdrant.old-"
MANIFEST_COPY = "ragdrop-manifest.json"  # what `ragdrop backup` stores beside the export


class RestoreError(ValueError):
    """A backup was refused: nothing live was changed; the message says which check failed."""


def staged_index(config: PipelineConfig, token: str) -> Path:
    """Where a new index (a restore's or a settings rebuild's) is built beside the live one."""
    return config.data_dir / f"{STAGING}{token}"


def staged_manifest(config: PipelineConfig, token: str) -> Path:
    """Where the new index's ingestion manifest is written before the switch."""
    return config.manifest_path.with_name(f"{config.manifest_path.name}.restore-{token}")


def switch_in(config: PipelineConfig, token: str, has_manifest: bool) -> None:
    """Switch the complete, checked index staged under ``token`` in (the caller holds the
    lock and has no client open on the live index or the staged one).

    The journal decides the switch: from the instant it exists, a kill is finished by
    `recover_data_dir`; before, the staged index is a leftover it removes.
    """
    atomic_write_json(config.data_dir / JOURNAL, {"token": token, "manifest": has_manifest})
    recover_data_dir(config)


def restore_data_dir(config: PipelineConfig, src: Path) -> dict[str, object]:
    """Restore ``config``'s embedded index from backup folder ``src`` (see the module doc).

    The caller holds the data dir's writer lock and has no client open on it.
    """
    recover_data_dir(config)
    _check_only_collection(config)
    token = uuid.uuid4().hex[:12]
    staging, manifest = staged_index(config, token), staged_manifest(config, token)
    try:
        points, ref_docs = _build(config, src, staging)
        has_manifest = (src / MANIFEST_COPY).exists()
        if has_manifest:
            data = read_bytes(src / MANIFEST_COPY)
            check_manifest(data, ref_docs, src)
            atomic_write_bytes(manifest, data)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        manifest.unlink(missing_ok=True)
        raise
    switch_in(config, token, has_manifest)
    return {"points": points, "manifest": has_manifest}


def _build(config: PipelineConfig, src: Path, staging: Path) -> tuple[int, set[str]]:
    """Restore into a new index at ``staging``; the point count and the documents it holds."""
    client = embedded_client(staging, engine="local" if config.qdrant_engine == "local" else "edge")
    try:
        store = CachedQdrantVectorStore(config.collection, client=client)
        store.restore(src)
        ref_docs = {node.ref_doc_id for node in store.iter_nodes() if node.ref_doc_id}
        count = client.count(collection_name=config.collection, exact=True).count
        expected = read_manifest(src).get("points")
        if count != expected:
            raise RestoreError(
                f"backup at {str(src)!r}: the restored index holds {count} points, its manifest "
                f"says {expected}; nothing was changed"
            )
        return count, ref_docs
    finally:
        client.close()


def check_manifest(data: bytes, ref_docs: set[str], src: Path) -> None:
    """The backup's ingestion manifest must describe exactly the restored documents."""
    try:
        manifest = read_json_bytes(data)
        documents = manifest["documents"]
        if not isinstance(documents, dict):
            raise TypeError("documents is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise RestoreError(
            f"backup at {str(src)!r}: {MANIFEST_COPY} is not a ragdrop manifest ({exc}); "
            "nothing was changed"
        ) from exc
    missing = sorted(set(documents) - ref_docs)
    if missing:
        raise RestoreError(
            f"backup at {str(src)!r}: {MANIFEST_COPY} lists {len(missing)} documents with no "
            f"points in the export (e.g. {missing[:3]}); nothing was changed"
        )


def read_json_bytes(data: bytes) -> dict[str, object]:
    """The JSON object in ``data`` (ValueError for anything else)."""
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _check_only_collection(config: PipelineConfig) -> None:
    """The switch replaces the whole embedded index: refuse when it holds other collections."""
    if not config.qdrant_path.exists():
        return
    client = embedded_client(config.qdrant_path, engine=config.qdrant_engine)
    try:
        names = [c.name for c in client.get_collections().collections]
    finally:
        client.close()
    others = sorted(set(names) - {config.collection})
    if others:
        raise RestoreError(
            f"the index at {str(config.qdrant_path)!r} also holds collections {others}; a "
            "restore replaces the whole index, so restore into a data dir of its own "
            "(--data-dir) and nothing was changed"
        )


def recover_data_dir(config: PipelineConfig) -> str | None:
    """Finish a switch (restore or settings rebuild) a kill interrupted, or remove what a
    killed restore or rebuild left half-built.

    Returns what was done (None when there was nothing to do). The caller holds the lock.
    """
    data_dir = config.data_dir
    if not data_dir.is_dir():
        return None
    journal_path = data_dir / JOURNAL
    if journal_path.exists():
        try:
            journal = read_json_file(journal_path)
            if not isinstance(journal, dict):
                raise TypeError("not a JSON object")
            token = journal["token"]
            if not isinstance(token, str) or not token.isalnum():
                raise TypeError(f"token {token!r}")
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ManifestError(
                f"{journal_path}: unreadable restore journal ({exc}); the data dir is between "
                "two indexes: restore the backup again"
            ) from exc
        _switch(config, token, bool(journal.get("manifest")))
        for path in _scratch_files(config):
            _remove(path)
        journal_path.unlink()
        fsync_dir(data_dir)
        shutil.rmtree(data_dir / f"{RETIRED}{token}", ignore_errors=True)
        return f"finished the switch to index {token}"
    leftovers = [p for p in data_dir.iterdir() if p.name.startswith((STAGING, RETIRED))]
    leftovers += _scratch_files(config)
    for path in leftovers:
        _remove(path)
    return (
        f"removed {len(leftovers)} leftovers of a killed restore or rebuild" if leftovers else None
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _scratch_files(config: PipelineConfig) -> list[Path]:
    """Files a killed restore or rebuild may leave: staged manifests and temporary files of atomic
    writes (of the journal or a staged manifest), and the dropped derived state."""
    data_dir, manifest = config.data_dir, config.manifest_path.name
    found = [
        *data_dir.glob(f"{manifest}.restore-*"),
        *data_dir.glob(f".{manifest}.restore-*"),
        *data_dir.glob(f".{JOURNAL}.tmp-*"),
    ]
    for derived in (config.bm25_dir, config.cache_dir / "queries"):
        if derived.parent.is_dir():
            found += derived.parent.glob(f".{derived.name}.stale-*")
    return found


def _switch(config: PipelineConfig, token: str, has_manifest: bool) -> None:
    """Steps of the switch, each safe to repeat after a kill."""
    data_dir = config.data_dir
    staging, retired = staged_index(config, token), data_dir / f"{RETIRED}{token}"
    live = config.qdrant_path
    if staging.exists():
        if live.exists() and not retired.exists():
            os.replace(live, retired)
        os.replace(staging, live)
        fsync_dir(data_dir)
    staged = staged_manifest(config, token)
    if staged.exists():
        os.replace(staged, config.manifest_path)
    elif not has_manifest:
        config.manifest_path.unlink(missing_ok=True)
    drop_derived(config, token)


def drop_derived(config: PipelineConfig, token: str) -> None:
    """Drop the BM25 state and the query cache: they describe the old points and are rebuilt
    from the new ones on first use (renamed aside first, so a kill leaves no half of them)."""
    for derived in (config.bm25_dir, config.cache_dir / "queries"):
        if derived.exists():
            aside = derived.with_name(f".{derived.name}.stale-{token}")
            os.replace(derived, aside)
            shutil.rmtree(aside, ignore_errors=True)
    if config.data_dir.is_dir():
        fsync_dir(config.data_dir)
    if config.cache_url is not None:
        # A shared cache (Redis) outlives the data dir's folders: forget every query result
        # and epoch there too, or another process could serve the old points' answers.
        shared = open_cache(config.cache_url.get_secret_value(), namespace="queries")
        shared.clear()
        if not getattr(shared, "healthy", True):
            raise RuntimeError(
                f"the index was switched in, but the shared query cache at "
                f"{redact_url(config.cache_url.get_secret_value())} could not be cleared "
                f"({getattr(shared, 'degraded_reason', None)}); clear it (redis-cli --scan "
                "--pattern 'ragdrop:v1:queries:*' | xargs redis-cli del) before serving"
            )
