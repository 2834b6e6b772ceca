"""The ``ragdrop`` command: one sub-command per module ``ragdrop.cli.<name>_cmd``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# Each module has register(subparsers, common_parent) and run(args) -> int.
COMMAND_MODULES = ["demo", "ingest", "ask", "serve", "eval", "backup", "restore", "health"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every installed sub-command."""
    parser = argparse.ArgumentParser(
        prog="ragdrop",
        description="Production-grade retrieval for LlamaIndex pipelines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ragdrop.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name != f"ragdrop.cli.{name}_cmd":
                raise
            continue
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ragdrop`` console script."""
    # Models load from local files only: the pipeline never reaches a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
