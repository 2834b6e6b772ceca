"""The ``ragdrop`` command: one sub-command per module ``ragdrop.cli.<name>_cmd``.

Every expected fault (a bad argument or file, a damaged manifest, a missing model, a busy or
unsafe data dir, Qdrant refusing a request) ends the command with one line on stderr naming
what failed and the fix, and a non-zero exit status; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ragdrop.core.locks import DataDirBusyError

# Each module has register(subparsers, common_parent) and run(args) -> int. A module imports
# the engines it needs when its command runs, so every `--help` starts fast.
COMMAND_MODULES = ["demo", "ingest", "ask", "serve", "eval", "backup", "restore", "health"]
# Faults of the input (arguments, files, folders): exit 2. ManifestError, DocumentLoadError,
# UnsafePathError and pydantic's ValidationError are ValueErrors.
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)
# Faults of the environment (models, Qdrant, another process): exit 1. Those defined by the
# engines are looked up where a command loaded them (`runtime_errors`).
_RUNTIME_ERROR_NAMES = (
    ("ragdrop.embeddings.sentence_transformer", "ModelNotAvailableError"),
    ("ragdrop.qdrant_edge.errors", "EdgeStorageError"),
    ("qdrant_client.http.exceptions", "ApiException"),
)
DEBUG_HELP = "show the traceback of an error instead of one line"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every installed sub-command."""
    parser = argparse.ArgumentParser(
        prog="ragdrop",
        description="Production-grade retrieval for LlamaIndex pipelines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    common = argparse.ArgumentParser(add_help=False)
    # Also after the command (`ragdrop ask Q --debug`); SUPPRESS keeps `ragdrop --debug ask`.
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"{DEBUG_HELP} (default: off)",
    )
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


def _loaded_error(module: str, name: str) -> type[BaseException] | None:
    """Exception class ``name`` of ``module`` if a command imported that module (an error of
    a module that was never imported cannot have been raised)."""
    error = getattr(sys.modules.get(module), name, None)
    return error if isinstance(error, type) and issubclass(error, BaseException) else None


def runtime_errors() -> tuple[type[BaseException], ...]:
    """The environment's faults: ours, and the engines' that a command has loaded."""
    loaded = (_loaded_error(module, name) for module, name in _RUNTIME_ERROR_NAMES)
    return (DataDirBusyError, *(error for error in loaded if error is not None))


def error_line(exc: BaseException) -> str:
    """One line naming what failed and the fix (the library's messages carry the fix)."""
    api_error = _loaded_error("qdrant_client.http.exceptions", "ApiException")
    if api_error is not None and isinstance(exc, api_error):
        return (
            f"Qdrant refused the request ({' '.join(str(exc).split())}); check that Qdrant "
            "runs at --qdrant-url and that --qdrant-api-key is right"
        )
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        # An error from the OS itself: it names the file but no fix.
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}; check that the path exists and that you may use it"
    return " ".join(str(exc).split()) or type(exc).__name__


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
    except Exception as exc:
        runtime = runtime_errors()
        if args.debug or not isinstance(exc, runtime + INPUT_ERRORS):
            raise
        print(f"ragdrop {args.command}: {error_line(exc)}", file=sys.stderr)
        return 1 if isinstance(exc, runtime) else 2


if __name__ == "__main__":
    sys.exit(main())
