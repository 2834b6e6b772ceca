"""Replace a collection on a Qdrant server without ever serving a mixed one: build the new
collection aside, check it, then switch a collection alias.

A restore (`restore_collection`) or a settings rebuild (`ragdrop.pipeline.rebuild`) writes into
a new collection ``<collection>-restore-<token>`` beside the live one and checks it (point count
and ids, vector names and sizes, every payload decodes, the backup's manifest against the
points' documents). Only then does the live name switch to it, in one
``update_collection_aliases`` call (delete the alias, create it on the new collection): a query
by the live name answers from the old collection or from the new one, never a mix. The old
collection is dropped after the switch.

The first switch of a plain collection (created before ragdrop used aliases) cannot be one call:
an alias may not take the name of a collection, so the plain collection is dropped first. A
pending alias ``<collection>-switch-pending`` on the new collection records the decision before
that drop; from then on `recover_collection` finishes the switch. During that moment (one
``delete_collection`` and one alias call) queries by the live name fail instead of answering.

The data dir's files follow the switch through the embedded restore's journal
(`ragdrop.pipeline.restore.switch_in`): the new manifest is put in place and the BM25 state and
the query cache dropped (rebuilt from the new points). `recover_collection` (run before every
restore and rebuild, and by the pipeline when it opens a server's collection) finishes what a
kill interrupted and drops staged collections the live name does not answer from.

Everything goes through qdrant-client's public API, so it runs on a server and on local mode
(`QdrantClient(":memory:")` or ``path=``), which implements aliases the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from qdrant_client.client_base import QdrantBase
from qdrant_client.http import models

from ragdrop.core.files import atomic_write_bytes, open_nofollow, private_dir, read_bytes
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.restore import (
    MANIFEST_COPY,
    RestoreError,
    check_manifest,
    drop_derived,
    recover_data_dir,
    staged_manifest,
    switch_in,
)
from ragdrop.vector_stores import (
    CachedQdrantVectorStore,
    CollectionLayout,
    CollectionSettings,
    client_scope,
)
from ragdrop.vector_stores.export import POINTS_FILE, read_manifest
from ragdrop.vector_stores.settings import read_layout

STAGED = "-restore-"
PENDING = "-switch-pending"


def staged_collection(collection: str, token: str) -> str:
    """The name of a new collection built aside for ``collection``."""
    return f"{collection}{STAGED}{token}"


def stages_in_collection(config: PipelineConfig) -> bool:
    """Whether ``config``'s restores and rebuilds switch a collection alias (a Qdrant server)
    rather than a folder of the data dir (an embedded index)."""
    return config.qdrant_url is not None


@dataclass(frozen=True)
class CollectionNames:
    """What a live collection name means now on a Qdrant deployment.

    Args:
        target: the collection the name answers from (itself when plain; None when absent).
        is_alias: the name is an alias.
        pending: the new collection of a first switch cut short (its pending alias), or None.
        staged: every collection built aside for this name (``<collection>-restore-<token>``).
    """

    target: str | None
    is_alias: bool
    pending: str | None
    staged: tuple[str, ...]


def read_names(client: QdrantBase, collection: str) -> CollectionNames:
    """Read the aliases and collections behind ``collection``."""
    aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    names = {c.name for c in client.get_collections().collections}
    pattern = re.compile(re.escape(collection + STAGED) + "[0-9a-f]{12}")
    staged = tuple(sorted(n for n in names if pattern.fullmatch(n)))
    if collection in aliases:
        target: str | None = aliases[collection]
    else:
        target = collection if collection in names else None
    return CollectionNames(target, collection in aliases, aliases.get(collection + PENDING), staged)


def token_of(collection: str, name: str | None) -> str | None:
    """The token of staged collection ``name`` of ``collection`` (None for any other name)."""
    prefix = collection + STAGED
    if name is None or not name.startswith(prefix):
        return None
    token = name[len(prefix) :]
    return token if re.fullmatch("[0-9a-f]{12}", token) else None


def switch_alias(client: QdrantBase, collection: str, new: str | None) -> str | None:
    """Make ``collection`` answer from collection ``new`` (None: from nothing, the name is
    dropped); the collection it answered from before when ragdrop built it and it may now be
    dropped (None otherwise: a collection an alias of the user's pointed to is kept)."""
    names = read_names(client, collection)
    ours = names.target if token_of(collection, names.target) and names.target != new else None
    delete = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection))
    if new is None:
        if names.is_alias:
            client.update_collection_aliases(change_aliases_operations=[delete])
            return ours
        if names.target is not None:
            client.delete_collection(collection_name=collection)
        return None
    if names.is_alias:
        create = models.CreateAlias(collection_name=new, alias_name=collection)
        client.update_collection_aliases(
            change_aliases_operations=[delete, models.CreateAliasOperation(create_alias=create)]
        )
        return ours
    # A plain collection (or none): record the decision, drop it, then create the alias.
    pending = models.CreateAlias(collection_name=new, alias_name=collection + PENDING)
    client.update_collection_aliases(
        change_aliases_operations=[models.CreateAliasOperation(create_alias=pending)]
    )
    _finish_first_switch(client, collection, new)
    return None


def _finish_first_switch(client: QdrantBase, collection: str, new: str) -> None:
    """Steps of a first switch after its pending alias exists; each safe to repeat."""
    names = read_names(client, collection)
    operations: list[models.AliasOperations] = []
    if names.is_alias:
        operations.append(
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection))
        )
    elif names.target is not None:
        client.delete_collection(collection_name=collection)  # the old, plain collection
    operations += [
        models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=new, alias_name=collection)
        ),
        models.DeleteAliasOperation(
            delete_alias=models.DeleteAlias(alias_name=collection + PENDING)
        ),
    ]
    client.update_collection_aliases(change_aliases_operations=operations)


def pending_switch(client: QdrantBase, config: PipelineConfig) -> str | None:
    """Why ``config``'s collection is between two collections (None when it is not)."""
    try:
        names = read_names(client, config.collection)
    except NotImplementedError:  # an engine without aliases (Qdrant Edge)
        return None
    if names.pending is not None:
        return (
            f"the first switch of collection {config.collection!r} to {names.pending!r} was "
            "interrupted (its pending alias exists)"
        )
    token = token_of(config.collection, names.target)
    if token is not None and staged_manifest(config, token).exists():
        return (
            f"collection {config.collection!r} answers from {names.target!r} but the data "
            "dir's manifest was not switched yet"
        )
    return None


def recover_collection(client: QdrantBase, config: PipelineConfig) -> list[str]:
    """Finish a switch a kill interrupted and drop what a killed restore or rebuild left.

    Returns what was done. A staged collection the live name does not answer from is a
    leftover: a restore or rebuild that is still running elsewhere against the same
    collection loses it and fails its checks, changing nothing live.
    """
    name, done = config.collection, []
    names = read_names(client, name)
    if names.pending is not None:
        _finish_first_switch(client, name, names.pending)
        done.append(f"finished the switch of {name!r} to {names.pending!r}")
        names = read_names(client, name)
    token = token_of(name, names.target)
    if token is not None and staged_manifest(config, token).exists():
        switch_in(config, token, has_manifest=True)  # the data dir's half of the switch
        done.append(f"put the manifest of {names.target!r} in place")
    elif config.data_dir.is_dir():
        recover_data_dir(config)  # stray staged manifests of failed restores
    for leftover in names.staged:
        if leftover != names.target:
            client.delete_collection(collection_name=leftover)
            done.append(f"dropped {leftover!r}")
    return done


def verify_collection(
    client: QdrantBase, store: CachedQdrantVectorStore, src: Path
) -> tuple[int, set[str]]:
    """Check the collection ``store`` restored from backup ``src`` against the backup: point
    count and ids, vector names and sizes, every payload decodes. The point count and the
    documents the points come from."""
    name, backup = store.collection_name, read_manifest(src)

    def refuse(what: str) -> RestoreError:
        return RestoreError(f"backup at {str(src)!r}: {what}; nothing was changed")

    layout = read_layout(client.get_collection(collection_name=name), name)
    if layout != CollectionLayout(**backup["layout"]):
        raise refuse(f"the restored collection's vectors are {layout}, the backup's differ")
    count = client.count(collection_name=name, exact=True).count
    if count != backup.get("points"):
        raise refuse(
            f"the restored collection holds {count} points, its manifest says "
            f"{backup.get('points')}"
        )
    stored: set[str] = set()
    offset: models.ExtendedPointId | None = None
    while True:
        records, offset = client.scroll(
            collection_name=name, limit=1024, offset=offset, with_payload=False
        )
        stored.update(str(r.id) for r in records)
        if offset is None:
            break
    if stored != _export_ids(src):
        raise refuse("the restored collection's point ids differ from the export's")
    try:
        ref_docs = {node.ref_doc_id for node in store.iter_nodes() if node.ref_doc_id}
    except (ValueError, KeyError, TypeError) as exc:
        raise refuse(f"a restored payload does not decode ({exc})") from exc
    return count, ref_docs


def _export_ids(src: Path) -> set[str]:
    with open_nofollow(src / POINTS_FILE, "r", encoding="utf-8") as handle:
        return {str(json.loads(line)["id"]) for line in handle if line.strip()}


def restore_collection(config: PipelineConfig, client: QdrantBase, src: Path) -> dict[str, object]:
    """Restore ``config``'s collection on ``client`` (a server, or local mode) from backup
    folder ``src``: built aside, checked, switched in with an alias (see the module doc).

    A refused backup raises `RestoreError` or ValueError naming the check; nothing live changed.
    """
    recover_collection(client, config)
    private_dir(config.data_dir, "data dir")
    token = uuid.uuid4().hex[:12]
    staged, manifest = staged_collection(config.collection, token), staged_manifest(config, token)
    try:
        store = CachedQdrantVectorStore(staged, client=client)
        store.restore(src, overwrite=False)  # checks the export's checksum and every point
        if client_scope(client)[1] == "remote":  # what the store makes for a new collection
            for index in CollectionSettings().payload_index_kwargs(staged):
                client.create_payload_index(**index)
        points, ref_docs = verify_collection(client, store, src)
        has_manifest = (src / MANIFEST_COPY).exists()
        if has_manifest:
            data = read_bytes(src / MANIFEST_COPY)
            check_manifest(data, ref_docs, src)
            atomic_write_bytes(manifest, data)
    except BaseException:
        if client.collection_exists(collection_name=staged):
            client.delete_collection(collection_name=staged)
        manifest.unlink(missing_ok=True)
        raise
    if not has_manifest:
        # No staged manifest tells a later start that the switch happened: forget the old
        # one now (the next ingest re-checks every document).
        config.manifest_path.unlink(missing_ok=True)
        drop_derived(config, token)
    elif not manifest.exists():  # removed by a process that started meanwhile
        client.delete_collection(collection_name=staged)
        raise RestoreError(
            f"the staged manifest {str(manifest)!r} was removed by another process while the "
            "restore ran; nothing was changed: run the restore again"
        )
    old = switch_alias(client, config.collection, staged)
    switch_in(config, token, has_manifest)
    if old is not None:
        client.delete_collection(collection_name=old)
    return {"points": points, "manifest": has_manifest, "collection": staged}


__all__ = [
    "CollectionNames",
    "pending_switch",
    "read_names",
    "recover_collection",
    "restore_collection",
    "stages_in_collection",
    "staged_collection",
    "switch_alias",
    "verify_collection",
]
