"""``ragdrop restore SRC``: restore the collection from a backup made by ``ragdrop backup``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ragdrop.cli.backup_cmd import store_method
from ragdrop.cli.settings import add_settings_arguments, config_from_sources


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "restore",
        parents=[common],
        help="restore the collection from a backup",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="backup written by ragdrop backup")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline

    if not args.src.exists():
        print(f"ragdrop restore: {args.src}: no such file or directory", file=sys.stderr)
        return 2
    try:
        config = config_from_sources(args, env=os.environ)
        with RagPipeline(config) as pipeline:
            result = store_method(pipeline, "restore")(args.src)
    except (ValueError, OSError) as exc:
        print(f"ragdrop restore: {exc}", file=sys.stderr)
        return 2
    print(
        f"Collection {config.collection!r} restored from {args.src}"
        + (f": {result}" if result else "")
    )
    return 0
