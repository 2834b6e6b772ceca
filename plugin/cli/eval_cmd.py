"""``ragdrop eval DIR``: compare retrieval systems on a BEIR-format dataset."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded when the command runs: `--help` stays fast
    from ragdrop.evaluation.beir import BeirDataset
    from ragdrop.evaluation.runner import EvalSettings
    from ragdrop.evaluation.systems import EvalSystem

DEFAULT_DATA_DIR = Path(".ragdrop")


def register(subparsers: Any, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``eval`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        parents=[common_parent],
        help="evaluate retrieval systems on a BEIR-format dataset",
        description=(
            "Score BM25, dense, hybrid (client-side and in-Qdrant fusion), hybrid + rerank and "
            "the LlamaIndex baselines on one BEIR dataset (corpus.jsonl, queries.jsonl, "
            "qrels/test.tsv) with the same embeddings: nDCG@10, Recall@100, MRR@10, latency "
            "and queries/s. Writes results.md, results.json and results.png."
        ),
    )
    parser.add_argument(
        "dataset", metavar="DIR", type=Path, nargs="?", help="BEIR dataset directory"
    )
    parser.add_argument("--split", default="test", help="qrels split (default: test)")
    parser.add_argument(
        "--queries", type=int, default=None, metavar="N", help="only the first N judged queries"
    )
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated system names (default: all); see --list-systems",
    )
    parser.add_argument("--list-systems", action="store_true", help="print system names and exit")
    parser.add_argument("--top-k", type=int, default=100, help="documents ranked per query")
    parser.add_argument(
        "--candidates", type=int, default=100, help="per-side depth of hybrid systems"
    )
    parser.add_argument(
        "--chunking",
        action="store_true",
        help="split long documents into chunks; a document scores its best chunk (max-pool)",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="tokens per chunk")
    parser.add_argument("--chunk-overlap", type=int, default=32, help="tokens shared by chunks")
    parser.add_argument(
        "--rerank-model",
        default=None,
        help="cross-encoder directory or cached hub id (default: auto-detect)",
    )
    parser.add_argument(
        "--rerank-depth", type=int, default=30, help="hybrid candidates the cross-encoder rescored"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="document-embedding cache (default: .ragdrop/eval_cache)",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not cache embeddings")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where results.{md,json,png} go (default: .ragdrop/eval/<dataset>)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch and BLAS (default: theirs); 1 steadies latency on a busy host",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)
    return parser


def _select_systems(spec: str | None) -> list[EvalSystem]:
    from ragdrop.evaluation.systems import default_systems

    systems = default_systems()
    if not spec:
        return systems
    by_name = {s.name: s for s in systems}
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ValueError(
            f"--systems: unknown name(s) {', '.join(unknown)}; choose from {', '.join(by_name)}"
        )
    return [by_name[name] for name in wanted]


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; print the markdown table and where the files went."""
    from ragdrop.evaluation.beir import load_beir
    from ragdrop.evaluation.runner import EvalSettings

    if args.list_systems:
        for system in _select_systems(None):
            print(f"{system.name:24} {system.label}")
        return 0
    if args.dataset is None:
        raise ValueError("DIR is required: a BEIR dataset directory")
    systems = _select_systems(args.systems)
    dataset = load_beir(args.dataset, split=args.split)
    if args.queries is not None:
        dataset = dataset.head(args.queries)
    data_dir = Path(getattr(args, "data_dir", None) or DEFAULT_DATA_DIR)
    settings = EvalSettings(
        top_k=args.top_k,
        candidates=args.candidates,
        chunking=args.chunking,
        chunk_size=args.chunk_size,
        chunk_overlap=args.chunk_overlap,
        rerank_model=args.rerank_model,
        rerank_depth=args.rerank_depth,
        cache_dir=None if args.no_cache else (args.cache_dir or data_dir / "eval_cache"),
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be a positive int, got {args.threads}")
    with ExitStack() as limits:
        if args.threads is not None:
            limits.enter_context(_thread_limit(args.threads))
        return _evaluate(args, dataset, systems, settings, data_dir)


@contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    """Cap torch's and BLAS's thread pools (oversubscribed spin-waiting skews latencies)."""
    # Only --threads needs torch here: importing it costs 3.8 s (measured), which every
    # other command would pay (the models import it when they load).
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def _evaluate(
    args: argparse.Namespace,
    dataset: BeirDataset,
    systems: list[EvalSystem],
    settings: EvalSettings,
    data_dir: Path,
) -> int:
    from ragdrop.embeddings import SentenceTransformerEmbedding
    from ragdrop.evaluation.report import markdown_report, write_outputs
    from ragdrop.evaluation.runner import run_evaluation

    model_name = getattr(args, "embed_model", None)
    embed_model = (
        SentenceTransformerEmbedding(model_name=model_name)
        if model_name
        else SentenceTransformerEmbedding()
    )
    report = run_evaluation(
        dataset, systems, embed_model, settings, log=lambda line: print(line, file=sys.stderr)
    )
    command: str | None = None
    if sys.argv[1:2] == ["eval"]:
        command = "ragdrop eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    out_dir = args.output_dir or data_dir / "eval" / dataset.name
    paths = write_outputs(report, out_dir, command)
    print(markdown_report(report, command))
    print("Wrote " + ", ".join(str(path) for path in paths.values()) + ".", file=sys.stderr)
    return 0
