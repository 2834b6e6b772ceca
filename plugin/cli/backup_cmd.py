"""``ragdrop backup DEST``: export the collection (and the ingestion manifest) to a folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ragdrop.cli.settings import add_settings_arguments, config_from_sources

# Stored beside the vector store's export so a restore also restores "what is indexed".
MANIFEST_COPY = "ragdrop-manifest.json"


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


def store_method(pipeline: Any, name: str) -> Any:
    """The vector store's ``backup``/``restore`` method, or a ValueError saying what is missing."""
    store = pipeline.components.vector_store
    method = getattr(store, name, None)
    if not callable(method):
        raise ValueError(
            f"the vector store {type(store).__name__} has no {name}(); it needs ragdrop's "
            "CachedQdrantVectorStore (ragdrop.vector_stores)"
        )
    return method


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline

    try:
        config = config_from_sources(args, env=os.environ)
        # The manifest is read before the points: a document it lists is fully written, so
        # the export holds it even if a server writes in between.
        manifest = config.manifest_path.read_bytes() if config.manifest_path.exists() else None
        with RagPipeline(config) as pipeline:
            result = store_method(pipeline, "backup")(args.dest, snapshot=not args.no_snapshot)
        if manifest is not None:
            target = args.dest / MANIFEST_COPY
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(manifest)
    except (ValueError, OSError) as exc:
        print(f"ragdrop backup: {exc}", file=sys.stderr)
        return 2
    points = result.get("points") if isinstance(result, dict) else None
    print(
        f"Backup of collection {config.collection!r} written to {args.dest}"
        + (f" ({points} points)" if points is not None else "")
    )
    return 0
