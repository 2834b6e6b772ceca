"""``ragdrop demo``: index CPython's docs (or your files) and answer questions, offline."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from ragdrop.observability.stages import Stage
from ragdrop.pipeline.config import ChunkingMode, FusionMode, PipelineConfig, RetrieverMode

if TYPE_CHECKING:  # loaded when the command runs: `--help` stays fast
    from ragdrop.pipeline.results import RagAnswer

DEMO_QUESTIONS = (
    "How does the with statement work?",
    "What is the difference between a list and a tuple?",
    "How do I give a function parameter a default value?",
    "What happens to a finally clause when an exception is raised in the try block?",
    "How are formatted string literals (f-strings) evaluated?",
)
# Question stages in the order they run, then the whole question.
_STAGE_ORDER: tuple[str, ...] = (
    Stage.RETRIEVE,
    Stage.EMBED,
    Stage.BM25,
    Stage.VECTOR,
    Stage.FUSION,
    Stage.CACHE,
    Stage.POSTPROCESS,
    Stage.RERANK,
    Stage.SYNTHESIZE,
    "total",
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="index CPython's documentation (or --docs) and answer questions",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--docs", type=Path, help="index your own .txt/.md files instead")
    parser.add_argument("--data-dir", type=Path, default=Path(".ragdrop"), help="index location")
    default = {name: field.default for name, field in PipelineConfig.model_fields.items()}
    parser.add_argument("--chunking", choices=get_args(ChunkingMode), default=default["chunking"])
    parser.add_argument(
        "--retriever", choices=get_args(RetrieverMode), default=default["retriever"]
    )
    parser.add_argument("--fusion", choices=get_args(FusionMode), default=default["fusion"])
    parser.add_argument("--rerank-model", help="local cross-encoder directory or cached hub id")
    parser.add_argument("--no-rerank", action="store_true", help="skip reranking")
    parser.add_argument("--top-k", type=int, default=3, help="sources shown per answer")
    parser.add_argument(
        "--question", action="append", help="ask this instead of the built-in questions"
    )
    parser.set_defaults(func=run)


def collection_for(docs: Path | None) -> str:
    """One collection per document set, so the demo never prunes another set's index."""
    if docs is None:
        return "python_docs"
    digest = hashlib.sha256(str(docs.expanduser().resolve()).encode()).hexdigest()[:10]
    return f"docs_{digest}"


def format_timings(timings: dict[str, float]) -> str:
    """``embed 5.1 ms · bm25 0.4 ms · ... · total 20 ms`` in pipeline order."""
    keys = [k for k in _STAGE_ORDER if k in timings]
    keys += sorted(k for k in timings if k not in _STAGE_ORDER)
    return " · ".join(f"{k} {timings[k] * 1000:.1f} ms" for k in keys)


def describe_scores(scores: dict[str, Any]) -> list[str]:
    """``bm25 #2 (7.31)``, ``vector #1 (0.612)``, ``rerank 4.20``: where a source's rank came from."""
    detail = []
    fusion = scores.get("fusion")
    if isinstance(fusion, dict):
        for name, hit in sorted(fusion.get("sources", {}).items()):
            if isinstance(hit, dict) and hit.get("score") is not None:
                detail.append(f"{name} #{hit['rank']} ({hit['score']:.3g})")
            elif isinstance(hit, dict):
                detail.append(f"{name} #{hit['rank']}")
    rerank = scores.get("rerank")
    if isinstance(rerank, dict) and rerank.get("score") is not None:
        detail.append(f"rerank {rerank['score']:.3g}")
    return detail


def format_answer(number: int, result: RagAnswer, top_k: int) -> str:
    lines = [f"\nQ{number}. {result.question}", f"Answer: {result.answer}", "Sources:"]
    for rank, src in enumerate(result.sources[:top_k], start=1):
        detail = describe_scores(src.scores)
        extra = f"  ({', '.join(detail)})" if detail else ""
        lines.append(f"  [{rank}] {src.ref_doc_id}  score {src.score:.4f}{extra}")
    lines.append(f"Time: {format_timings(result.timings)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ragdrop.pipeline.documents import load_directory, load_pydoc_topics
    from ragdrop.pipeline.rag import RagPipeline

    documents = load_directory(args.docs) if args.docs else load_pydoc_topics()
    config = PipelineConfig(
        data_dir=args.data_dir,
        collection=collection_for(args.docs),
        chunking=args.chunking,
        retriever=args.retriever,
        fusion=args.fusion,
        rerank_model=args.rerank_model,
        rerank=not args.no_rerank,
    )
    source = str(args.docs) if args.docs else "CPython's documentation topics (pydoc_data)"
    print(f"ragdrop demo: {len(documents)} documents from {source}")
    print(f"Index: Qdrant embedded at {config.qdrant_path} (collection {config.collection!r})")
    with RagPipeline(config) as pipeline:
        try:
            report = pipeline.ingest(documents, progress=True, prune=True)
        except KeyboardInterrupt:
            done = len(pipeline.indexed_documents())
            print(
                f"\nInterrupted: {done} of {len(documents)} documents are fully indexed; "
                "run the demo again to finish.",
                file=sys.stderr,
            )
            return 130
        if report.changed:
            print(
                f"Indexed {report.added} new and {report.updated} changed documents "
                f"({report.nodes_written} chunks), removed {report.deleted}, "
                f"{report.unchanged} unchanged, in {report.seconds:.1f} s."
            )
        else:
            print(
                f"Index up to date: {report.unchanged} documents unchanged (content hashes), "
                f"nothing re-embedded ({report.seconds:.2f} s)."
            )
        print(pipeline.components.rerank_status)
        started = time.perf_counter()
        for number, question in enumerate(args.question or DEMO_QUESTIONS, start=1):
            print(format_answer(number, pipeline.query(question, top_k=args.top_k), args.top_k))
        print(f"\nAnswered in {time.perf_counter() - started:.2f} s.")
    return 0
