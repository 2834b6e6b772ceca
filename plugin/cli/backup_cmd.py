"""``ragdrop backup DEST``: snapshot the collection through the vector store's ``backup``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ragdrop.cli.settings import add_settings_arguments, config_from_sources


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "backup",
        parents=[common],
        help="write a backup of the collection to DEST",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="backup file or folder to write")
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
        with RagPipeline(config) as pipeline:
            result = store_method(pipeline, "backup")(args.dest)
    except (ValueError, OSError) as exc:
        print(f"ragdrop backup: {exc}", file=sys.stderr)
        return 2
    print(f"Backup of collection {config.collection!r} written to {result or args.dest}")
    return 0
