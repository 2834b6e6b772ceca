"""``ragdrop health``: readiness of Qdrant, the collection, the cache directory and models."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ragdrop.pipeline.rag import RagPipeline
from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "health",
        parents=[common],
        help="check Qdrant, the collection, the cache directory and the models",
        description="Exit status 0 when every check passes, 1 otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_sources(args, env=os.environ)
    except ValueError as exc:
        print(f"ragdrop health: {exc}", file=sys.stderr)
        return 2
    with RagPipeline(config) as pipeline:
        report = pipeline.health()
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        for check in report.checks:
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {check.name:<11} {check.detail}")
        print("ready" if report.ok else "not ready")
    return 0 if report.ok else 1
