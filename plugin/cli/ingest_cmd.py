"""``ragdrop ingest PATH...``: index text and markdown files; unchanged files are skipped."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources

if TYPE_CHECKING:  # loaded when the command runs: `--help` stays fast
    from llama_index.core import Document


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "ingest",
        parents=[common],
        help="index files or folders (resumable; unchanged files are skipped)",
        description=(
            "Index .txt/.md/.rst files. Each file is recorded once its chunks are written, so an "
            "interrupted run resumes where it stopped; files whose content did not change are "
            "not re-embedded."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    parser.add_argument(
        "--prune", action="store_true", help="remove indexed documents that are not in PATHs"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def load_paths(paths: list[str]) -> list[Document]:
    """Documents of every PATH; ids are paths relative to their PATH and must not collide."""
    from ragdrop.pipeline.documents import load_directory

    documents: list[Document] = []
    origin: dict[str, str] = {}
    for path in paths:
        for doc in load_directory(path):
            if doc.id_ in origin:
                raise ValueError(
                    f"{doc.id_!r} is found under both {origin[doc.id_]} and {path}: document ids "
                    "are paths relative to each PATH; ingest these folders separately or "
                    "pass their common parent"
                )
            origin[doc.id_] = path
            documents.append(doc)
    return documents


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline

    config = config_from_sources(args, env=os.environ)
    documents = load_paths(args.paths)
    with RagPipeline(config) as pipeline:
        try:
            report = pipeline.ingest(documents, progress=not args.no_progress, prune=args.prune)
        except KeyboardInterrupt:
            done = len(pipeline.indexed_documents())
            print(
                f"\nInterrupted: {done} documents are fully indexed; run the same command "
                "again to finish (finished files are skipped).",
                file=sys.stderr,
            )
            return 130
    summary = {k: v for k, v in vars(report).items() if k != "documents"}
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"Indexed {report.added} new and {report.updated} changed documents "
            f"({report.nodes_written} chunks); {report.unchanged} unchanged, "
            f"{report.deleted} removed, {report.skipped_empty} empty, in {report.seconds:.1f} s "
            f"(collection {config.collection!r} in {config.data_dir})."
        )
    return 0
