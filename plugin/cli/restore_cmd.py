"""``ragdrop restore SRC``: replace the collection with a backup made by ``ragdrop backup``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ragdrop.cli.backup_cmd import qdrant_store
from ragdrop.core.files import atomic_write_bytes, private_dir, read_bytes
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


def restore_manifest(src: Path, manifest_path: Path) -> bool:
    """Put the backup's manifest in place (atomically); without one, forget the old one.

    A stale manifest would claim documents whose points the restore replaced, and the next
    ingest would skip them; without it, the next ingest re-checks every document.
    """
    from ragdrop.pipeline.restore import MANIFEST_COPY

    copy = src / MANIFEST_COPY
    if not copy.exists():
        manifest_path.unlink(missing_ok=True)
        return False
    private_dir(manifest_path.parent)
    atomic_write_bytes(manifest_path, read_bytes(copy))
    return True


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline
    from ragdrop.pipeline.restore import restore_data_dir

    if not args.src.is_dir():
        print(f"ragdrop restore: {args.src}: no such backup folder", file=sys.stderr)
        return 2
    try:
        config = config_from_sources(args, env=os.environ)
        if config.qdrant_url:
            with RagPipeline(config) as pipeline:
                # Forget first: if the restore dies half-way, no manifest claims missing points.
                config.manifest_path.unlink(missing_ok=True)
                result = qdrant_store(pipeline).restore(args.src)
            had_manifest = restore_manifest(args.src, config.manifest_path)
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
