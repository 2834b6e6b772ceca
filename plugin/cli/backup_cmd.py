"""``ragdrop backup DEST``: export the collection (and the ingestion manifest) to a folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdrop.core.files import atomic_write_bytes, read_bytes
from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources

if TYPE_CHECKING:  # loaded when the command runs: `--help` stays fast
    from ragdrop.pipeline.rag import RagPipeline
    from ragdrop.vector_stores import CachedQdrantVectorStore


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "backup",
        parents=[common],
        help="write a backup of the collection to the folder DEST",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="backup folder to write")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="skip the server-side Qdrant snapshot (the portable export is always written)",
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def qdrant_store(pipeline: RagPipeline) -> CachedQdrantVectorStore:
    """The pipeline's vector store, or a ValueError saying backups need ragdrop's store."""
    from ragdrop.vector_stores import CachedQdrantVectorStore

    store = pipeline.components.vector_store
    if not isinstance(store, CachedQdrantVectorStore):
        raise ValueError(
            f"the vector store {type(store).__name__} cannot back up or restore; it needs "
            "ragdrop's CachedQdrantVectorStore (ragdrop.vector_stores)"
        )
    return store


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline
    from ragdrop.pipeline.restore import MANIFEST_COPY  # stored beside the export

    try:
        config = config_from_sources(args, env=os.environ)
        # The manifest is read before the points: a document it lists is fully written, so
        # the export holds it even if a server writes in between.
        manifest = read_bytes(config.manifest_path) if config.manifest_path.exists() else None
        with RagPipeline(config) as pipeline:
            result = qdrant_store(pipeline).backup(args.dest, snapshot=not args.no_snapshot)
        if manifest is not None:
            atomic_write_bytes(args.dest / MANIFEST_COPY, manifest)
    except (ValueError, OSError) as exc:
        print(f"ragdrop backup: {exc}", file=sys.stderr)
        return 2
    points = result.get("points") if isinstance(result, dict) else None
    print(
        f"Backup of collection {config.collection!r} written to {args.dest}"
        + (f" ({points} points)" if points is not None else "")
    )
    return 0
