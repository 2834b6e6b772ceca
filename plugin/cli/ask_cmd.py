"""``ragdrop ask "question"``: answer from the index with sources and per-stage timings."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ragdrop.cli.demo_cmd import format_timings
from ragdrop.pipeline.settings import add_settings_arguments, config_from_sources

if TYPE_CHECKING:  # loaded when the command runs: `--help` stays fast
    from llama_index.core.vector_stores.types import MetadataFilters


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "ask",
        parents=[common],
        help="answer a question from the indexed documents",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("question", help="the question, quoted")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only passages whose metadata KEY equals VALUE (repeatable, all must match)",
    )
    parser.add_argument("--json", action="store_true", help="print the full answer as JSON")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def parse_filters(items: list[str]) -> MetadataFilters | None:
    """``["topic=bm25"]`` -> LlamaIndex ``MetadataFilters`` (equality, all must match)."""
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

    if not items:
        return None
    filters = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--filter {item!r}: expected KEY=VALUE, e.g. --filter topic=bm25")
        filters.append(MetadataFilter(key=key.strip(), value=value))
    return MetadataFilters(filters=filters)


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.rag import RagPipeline

    config = config_from_sources(args, env=os.environ)
    filters = parse_filters(args.filter)
    with RagPipeline(config) as pipeline:
        if not pipeline.indexed_documents():
            print(
                f"ragdrop ask: nothing is indexed in {config.data_dir} (collection "
                f"{config.collection!r}); run `ragdrop ingest PATH` first",
                file=sys.stderr,
            )
            return 1
        answer = pipeline.query(args.question, filters=filters)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
        return 0
    print(f"Answer: {answer.answer}\nSources:")
    for rank, source in enumerate(answer.sources, start=1):
        print(f"  [{rank}] {source.ref_doc_id}  score {source.score:.4f}")
    print(f"Time: {format_timings(answer.timings)}")
    return 0
