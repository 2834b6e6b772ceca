"""``ragdrop health``: readiness of what questions read; checks without creating anything."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "health",
        parents=[common],
        help="check what questions read: data dir, manifest, cache, Qdrant, models, BM25",
        description=(
            "Checks the data dir, the manifest, the cache dir, Qdrant and the collection, the "
            "models and the BM25 state by reading their files: it takes no lock (a running "
            "server's index is read as it stands), opens no index and creates, repairs or "
            "changes nothing; a damaged file is reported, not ready. Exit status 0 when every "
            "check passes, 1 otherwise."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--open",
        action="store_true",
        help="open the index as `ragdrop ask` does and run the server's readiness checks (takes "
        "the data dir's writer lock; may finish a restore's switch or rebuild the BM25 state)",
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.inspection import inspect_data_dir
    from ragdrop.pipeline.rag import RagPipeline

    config = config_from_sources(args, env=os.environ)
    if args.open:
        with RagPipeline(config) as pipeline:
            report = pipeline.health()
    else:
        report = inspect_data_dir(config, RagPipeline(config).fingerprint())
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        for check in report.checks:
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {check.name:<11} {check.detail}")
        failed = next((check for check in report.checks if not check.ok), None)
        print("ready" if failed is None else f"not ready: {failed.name}: {failed.detail}")
    return 0 if report.ok else 1
