"""The on-disk layout of an Edge storage directory.

Edge has one shard per directory, so each collection is one shard under
``<path>/collections/<name>/shard`` with its qdrant-client config beside it in
``collection.json``; the collection then reports the same ``CollectionInfo`` it was created with.
``<path>/ragdrop-edge.json`` marks the directory as ours and records its format.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp()) / "edge"
    >>> open_storage(root)
    {}
    >>> sorted(p.name for p in root.iterdir())
    ['collections', 'ragdrop-edge.json']
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import qdrant_edge as edge
from qdrant_client.http import models

from ragdrop.core.files import atomic_write_json, private_dir, read_json
from ragdrop.qdrant_edge.convert_config import FieldSchema, collection_to_edge_config
from ragdrop.qdrant_edge.errors import EdgeStorageError, edge_call

STORAGE_MARKER = "ragdrop-edge.json"
STORAGE_FORMAT = 1
LOCAL_MODE_MARKER = "meta.json"  # what qdrant-client local mode writes at the root of its path
_COLLECTION_FILE = "collection.json"

_INDEX_PARAMS_BY_TYPE: dict[str, type[models.PayloadSchemaParams]] = {
    "keyword": models.KeywordIndexParams,
    "integer": models.IntegerIndexParams,
    "float": models.FloatIndexParams,
    "geo": models.GeoIndexParams,
    "text": models.TextIndexParams,
    "bool": models.BoolIndexParams,
    "datetime": models.DatetimeIndexParams,
    "uuid": models.UuidIndexParams,
}


@dataclass
class EdgeCollection:
    """One collection: its Edge shard and the qdrant-client config it was created with."""

    name: str
    path: Path
    config: models.CreateCollection
    shard: edge.EdgeShard
    payload_indexes: dict[str, FieldSchema] = field(default_factory=dict)

    @classmethod
    def create(cls, path: Path, config: models.CreateCollection) -> EdgeCollection:
        """A new empty collection in directory ``path`` (replacing a crash's leftovers)."""
        edge_config = collection_to_edge_config(config)
        if path.exists():  # left by a crash between mkdir and collection.json
            shutil.rmtree(path)
        path.mkdir(mode=0o700)
        shard = edge_call(edge.EdgeShard.create, str(path / "shard"), edge_config)
        collection = cls(path.name, path, config, shard)
        collection.save()
        return collection

    @classmethod
    def load(cls, path: Path) -> EdgeCollection:
        """The collection stored in directory ``path``."""
        meta = read_json(path / _COLLECTION_FILE)
        if not isinstance(meta, dict):
            raise EdgeStorageError(f"{str(path / _COLLECTION_FILE)!r} is not a JSON object")
        config = models.CreateCollection.model_validate(meta["config"])
        try:
            shard = edge.EdgeShard.load(str(path / "shard"))
        except Exception as exc:  # Edge raises bare Exception; the WAL lock is the usual cause
            raise EdgeStorageError(
                f"cannot open Edge collection at {str(path)!r}: {exc}. Only one client may "
                "open an Edge storage at a time: close the other EdgeQdrantClient (or process) "
                "first, or use a Qdrant server for concurrent access"
            ) from exc
        indexes = {k: _load_schema(v) for k, v in meta.get("payload_indexes", {}).items()}
        return cls(path.name, path, config, shard, indexes)

    def save(self) -> None:
        """Write ``collection.json`` (config and payload index schemas) atomically."""
        meta = {
            "config": self.config.model_dump(mode="json", exclude_none=True),
            "payload_indexes": {
                name: schema.value
                if isinstance(schema, models.PayloadSchemaType)
                else schema.model_dump(mode="json")
                for name, schema in self.payload_indexes.items()
            },
        }
        atomic_write_json(self.path / _COLLECTION_FILE, meta)

    def delete(self) -> None:
        """Close the shard and remove the collection's directory."""
        self.shard.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _load_schema(value: str | Mapping[str, object]) -> FieldSchema:
    if isinstance(value, str):
        return models.PayloadSchemaType(value)
    params_cls = _INDEX_PARAMS_BY_TYPE.get(str(value.get("type")))
    if params_cls is None:
        raise EdgeStorageError(f"unknown payload index schema in collection.json: {value!r}")
    return params_cls.model_validate(value)


def open_storage(location: Path) -> dict[str, EdgeCollection]:
    """Open (or start) the Edge storage at ``location``: its collections by name.

    Raises `EdgeStorageError` for a local-mode directory, an unknown format or a collection
    another client holds open; ``UnsafePathError`` when the directory is not private.
    """
    if (location / LOCAL_MODE_MARKER).exists():
        raise EdgeStorageError(
            f"{str(location)!r} holds a qdrant-client local-mode storage, not an Edge one; "
            "open it with QdrantClient(path=...) and move it with the store's backup/restore, "
            "or choose an empty directory for Edge"
        )
    private_dir(location, "Qdrant Edge directory")
    marker = location / STORAGE_MARKER
    if marker.exists():
        meta = read_json(marker)
        found = meta.get("format") if isinstance(meta, dict) else None
        if found != STORAGE_FORMAT:
            raise EdgeStorageError(
                f"{str(marker)!r} has storage format {found!r}; this version "
                f"reads format {STORAGE_FORMAT}"
            )
    else:
        atomic_write_json(marker, {"format": STORAGE_FORMAT, "engine": "qdrant-edge"})
    root = location / "collections"
    root.mkdir(exist_ok=True, mode=0o700)
    collections: dict[str, EdgeCollection] = {}
    try:
        for directory in sorted(p for p in root.iterdir() if p.is_dir()):
            if (directory / _COLLECTION_FILE).exists():
                collections[directory.name] = EdgeCollection.load(directory)
    except Exception:
        for collection in collections.values():
            collection.shard.close()
        raise
    return collections


def read_collection_config(location: Path, name: str) -> models.CreateCollection | None:
    """The config collection ``name`` was created with, read from the files of the embedded
    index at ``location`` (Edge or qdrant-client local mode) without opening it.

    Opening an index writes to it (Edge rewrites its shard config and trackers, local mode
    takes its lock), so a health check reads this instead. None when the index holds no
    such collection; `EdgeStorageError` when the file that describes it is unreadable.
    """
    local = location / LOCAL_MODE_MARKER
    try:
        if local.exists():
            meta = read_json(local)
            collections = meta.get("collections") if isinstance(meta, dict) else None
            if not isinstance(collections, dict):
                raise ValueError("no 'collections' object")
            found = collections.get(name)
            return None if found is None else models.CreateCollection.model_validate(found)
        marker = location / STORAGE_MARKER
        if marker.exists():
            meta = read_json(marker)
            if not isinstance(meta, dict) or meta.get("format") != STORAGE_FORMAT:
                raise ValueError(f"storage format is not {STORAGE_FORMAT}")
        path = location / "collections" / name / _COLLECTION_FILE
        if not path.exists():
            return None
        meta = read_json(path)
        if not isinstance(meta, dict):
            raise ValueError(f"{str(path)!r} is not a JSON object")
        return models.CreateCollection.model_validate(meta["config"])
    except (OSError, ValueError, KeyError) as exc:  # pydantic's ValidationError is a ValueError
        raise EdgeStorageError(
            f"the index at {str(location)!r} has an unreadable description of collection "
            f"{name!r} ({exc}); restore it from a backup (`ragdrop restore`)"
        ) from exc
