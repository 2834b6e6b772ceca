"""``ragdrop restore SRC``: replace the collection with a backup made by ``ragdrop backup``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ragdrop.core.files import private_dir
from ragdrop.core.locks import DataDirBusyError, DataDirLock
from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "restore",
        parents=[common],
        help="replace the collection with a backup",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="folder written by ragdrop backup")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.collection_switch import restore_collection
    from ragdrop.pipeline.components import build_qdrant_client
    from ragdrop.pipeline.restore import restore_data_dir

    if not args.src.is_dir():
        print(f"ragdrop restore: {args.src}: no such backup folder", file=sys.stderr)
        return 2
    try:
        config = config_from_sources(args, env=os.environ)
        if config.qdrant_url:
            # Built in a new collection, checked, switched in with an alias.
            client = build_qdrant_client(config)
            try:
                result = restore_collection(config, client, args.src)
            finally:
                client.close()
            had_manifest = bool(result.get("manifest"))
        else:
            # The embedded index is rebuilt aside, checked, then switched in whole.
            with DataDirLock(private_dir(config.data_dir, "data dir")):
                result = restore_data_dir(config, args.src)
            had_manifest = bool(result.get("manifest"))
    except (ValueError, OSError, DataDirBusyError) as exc:
        print(f"ragdrop restore: {exc}", file=sys.stderr)
        return 2
    points = result.get("points") if isinstance(result, dict) else None
    print(
        f"Collection {config.collection!r} restored from {args.src}"
        + (f" ({points} points)" if points is not None else "")
        + ("" if had_manifest else "; the next `ragdrop ingest` re-checks every document")
    )
    return 0
