"""Leave-one-dataset-out selection of HybridRetriever's default configuration (issue 15).

    python benchmarks/select_default.py [--configs benchmarks/select_configs.toml] \
        [--output-dir .ragdrop/select] [--queries N] [DIR ...]

Without DIR it reads every folder of ``../shared/evaldata`` that holds ``corpus.jsonl`` (the
data is read in place, never copied into the repository). Per dataset, every configuration
of ``--configs`` and the baseline (LlamaIndex's ``QueryFusionRetriever``, built exactly as
``ragdrop eval``'s ``llamaindex_fusion`` row) rank the same nodes with the same MiniLM
embeddings: documents from ``ragdrop eval``'s cache (``.ragdrop/eval_cache``), queries
embedded once and passed in the ``QueryBundle``. For each dataset in turn the configuration
with the best mean nDCG@10 gain over the baseline on the *other* datasets is chosen and
scored on the held-out one; the default is the configuration chosen in most folds (ties: the
best mean gain over all datasets). Markdown goes to stdout and ``lodo.md``, every per-query
value to ``lodo.json``, both under ``--output-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: benchmarks/ is a package at the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle  # noqa: E402

from benchmarks._beir import EVALDATA  # noqa: E402
from benchmarks._lodo import (  # noqa: E402
    CRITERIA,
    NDCG_K,
    TOP_K,
    DatasetScores,
    Fold,
    Scores,
    Selection,
    choose_config,
    leave_one_dataset_out,
    render_markdown,
    run_selection,
    select_default,
    selection_json,
    summary_rows,
)
from benchmarks._summary import add_summary_option, skipped, write_summary  # noqa: E402
from ragdrop.core.files import atomic_write_text, read_text  # noqa: E402
from ragdrop.embeddings import default_embed_model  # noqa: E402
from ragdrop.evaluation.beir import load_beir  # noqa: E402
from ragdrop.evaluation.metrics import ndcg_at_k, percentile  # noqa: E402
from ragdrop.evaluation.runner import (  # noqa: E402
    EvalSettings,
    build_units,
    document_ranking,
    embed_units,
    make_nodes,
)
from ragdrop.evaluation.systems import EvalContext, build_llamaindex_fusion  # noqa: E402
from ragdrop.retrievers import (  # noqa: E402
    ArrayVectorRetriever,
    BM25Index,
    BM25Retriever,
    BM25Tokenizer,
    HybridRetriever,
)
from ragdrop.retrievers.feedback import PseudoRelevanceFeedback  # noqa: E402
from ragdrop.retrievers.hybrid import DEFAULT_CANDIDATES  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIGS = BENCH_DIR / "select_configs.toml"
DEFAULT_OUTPUT = Path(".ragdrop/select")
DEFAULT_CACHE = Path(".ragdrop/eval_cache")  # `ragdrop eval`'s document-embedding cache
QUICK_QUERIES = 20  # --quick (`make bench`): the first judged queries of each set
CONFIG_KEYS = ("fusion_method", "rrf_k", "weights", "candidates", "feedback", "bm25")
BM25_INDEX_KEYS = ("k1", "b", "idf")
BM25_TOKENIZER_KEYS = ("stopwords", "stemmer")

Searcher = Callable[[QueryBundle], list[NodeWithScore]]

__all__ = [
    "Config",
    "DatasetScores",
    "Fold",
    "Scores",
    "Selection",
    "choose_config",
    "evaluate_dataset",
    "leave_one_dataset_out",
    "load_configs",
    "main",
    "parse_configs",
    "render_markdown",
    "run_selection",
    "select_default",
    "selection_json",
    "summary_rows",
]


# --- configurations ---------------------------------------------------------------------------


def _off_if_false(value: Any) -> Any:
    # TOML has no null: `stopwords = false` / `stemmer = false` switch the step off.
    return None if value is False else value


@dataclass(frozen=True)
class Config:
    """One ``[configs.NAME]`` table; a key left out means the library default."""

    name: str
    table: Mapping[str, Any]

    @property
    def bm25_table(self) -> dict[str, Any]:
        return dict(self.table.get("bm25", {}))

    @property
    def bm25_key(self) -> str:
        """Configurations with equal ``bm25`` tables share one index per dataset."""
        return json.dumps(self.bm25_table, sort_keys=True)

    @property
    def candidates(self) -> int:
        return int(self.table.get("candidates", DEFAULT_CANDIDATES))

    def bm25_index(self) -> BM25Index:
        table = self.bm25_table
        tokenizer = {k: _off_if_false(table[k]) for k in BM25_TOKENIZER_KEYS if k in table}
        index = {k: table[k] for k in BM25_INDEX_KEYS if k in table}
        return BM25Index(tokenizer=BM25Tokenizer(**tokenizer), **index)

    def hybrid_kwargs(self) -> dict[str, Any]:
        """The `HybridRetriever` arguments this table sets (none for ``default``)."""
        out: dict[str, Any] = {
            k: self.table[k] for k in ("fusion_method", "rrf_k") if k in self.table
        }
        if "weights" in self.table:
            out["weights"] = tuple(self.table["weights"])
        if "candidates" in self.table:
            out["bm25_candidates"] = out["vector_candidates"] = self.table["candidates"]
        if "feedback" in self.table:
            feedback = self.table["feedback"]
            if feedback is False:
                out["feedback"] = None
            elif isinstance(feedback, dict):
                out["feedback"] = PseudoRelevanceFeedback(**feedback)
            else:
                raise TypeError(f"feedback must be false or a table, got {feedback!r}")
        return out

    def build(
        self,
        bm25: BM25Retriever,
        dense: ArrayVectorRetriever,
        embed_model: BaseEmbedding | None,
        top_k: int = TOP_K,
    ) -> HybridRetriever:
        return HybridRetriever(
            bm25=bm25,
            vector_retriever=dense,
            embed_model=embed_model,
            similarity_top_k=top_k,
            **self.hybrid_kwargs(),
        )


def _unknown(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ValueError(f"{where} has unknown key(s) {extra}; allowed: {list(allowed)}")


def parse_configs(data: Mapping[str, Any], source: str = "configs") -> list[Config]:
    """`Config`s from parsed TOML (``{"configs": {NAME: table}}``), each checked by building it.

    Example:
        >>> [c.name for c in parse_configs({"configs": {"default": {}}})]
        ['default']
    """
    _unknown(data, ("configs",), source)
    tables = data.get("configs")
    if not isinstance(tables, dict) or not tables:
        raise ValueError(f"{source}: needs at least one [configs.NAME] table")
    configs = []
    for name, table in tables.items():
        where = f"{source}: [configs.{name}]"
        if not isinstance(table, dict):
            raise ValueError(f"{where} must be a table, got {table!r}")
        _unknown(table, CONFIG_KEYS, where)
        bm25 = table.get("bm25", {})
        if not isinstance(bm25, dict):
            raise ValueError(f"{where}: bm25 must be a table, got {bm25!r}")
        _unknown(bm25, BM25_INDEX_KEYS + BM25_TOKENIZER_KEYS, f"{where} bm25")
        config = Config(str(name), table)
        try:  # on empty sides: a bad value fails here, not after minutes of evaluation
            config.build(BM25Retriever(index=config.bm25_index()), ArrayVectorRetriever(), None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        configs.append(config)
    return configs


def load_configs(path: str | Path) -> list[Config]:
    """`parse_configs` of a TOML file."""
    try:
        data = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--configs {path}: not valid TOML ({exc})") from exc
    return parse_configs(data, str(path))


# --- one dataset --------------------------------------------------------------------------------


def score_queries(
    search: Searcher, bundles: Mapping[str, QueryBundle], qrels: Mapping[str, Mapping[str, int]]
) -> Scores:
    """Run every query (after one untimed warm-up) and score it as ``runner.evaluate_system``."""
    search(next(iter(bundles.values())))  # lazy state (thread pools, idf caches) not timed
    per_query: dict[str, float] = {}
    seconds: list[float] = []
    for qid, bundle in bundles.items():
        start = time.perf_counter()
        nodes = search(bundle)
        seconds.append(time.perf_counter() - start)
        per_query[qid] = ndcg_at_k(document_ranking(nodes, TOP_K), qrels[qid], NDCG_K)
    return Scores(per_query, 1000 * statistics.fmean(seconds), 1000 * percentile(seconds, 50))


def evaluate_dataset(
    path: str | Path,
    configs: Sequence[Config],
    embed_model: BaseEmbedding,
    queries: int | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    log: Callable[[str], None] | None = None,
) -> DatasetScores:
    """The baseline and every configuration on the BEIR folder ``path`` (first ``queries``)."""
    say = log or (lambda _line: None)
    dataset = load_beir(path)
    if queries is not None:
        dataset = dataset.head(queries)
    if not dataset.queries:
        raise ValueError(f"{path}: no judged queries in qrels/test.tsv")
    settings = EvalSettings(top_k=TOP_K, candidates=TOP_K, cache_dir=cache_dir, progress=False)
    units = build_units(dataset, embed_model, settings)
    vectors, hit = embed_units(units, embed_model, settings)
    nodes = make_nodes(units, vectors)
    bundles = {
        qid: QueryBundle(query_str=text, embedding=embed_model.get_query_embedding(text))
        for qid, text in dataset.queries.items()
    }
    say(
        f"{dataset.name}: {len(nodes)} documents, {len(bundles)} queries, document embeddings "
        + ("from cache" if hit else "computed")
    )
    context = EvalContext(nodes=nodes, embed_model=embed_model, top_k=TOP_K, candidates=TOP_K)
    try:
        baseline = score_queries(build_llamaindex_fusion(context), bundles, dataset.qrels)
    finally:
        context.close()
    say(f"  QueryFusion: nDCG@10 {baseline.ndcg:.4f}, {baseline.latency_ms:.1f} ms/query")
    bm25: dict[str, BM25Retriever] = {}
    dense: dict[int, ArrayVectorRetriever] = {}
    scores: dict[str, Scores] = {}
    for config in configs:
        if config.bm25_key not in bm25:
            bm25[config.bm25_key] = BM25Retriever(nodes=nodes, index=config.bm25_index())
        if config.candidates not in dense:
            dense[config.candidates] = ArrayVectorRetriever(
                nodes, similarity_top_k=config.candidates
            )
        retriever = config.build(bm25[config.bm25_key], dense[config.candidates], embed_model)
        result = score_queries(retriever.retrieve, bundles, dataset.qrels)
        scores[config.name] = result
        say(
            f"  {config.name}: nDCG@10 {result.ndcg:.4f} ({result.ndcg - baseline.ndcg:+.4f}), "
            f"{result.latency_ms:.1f} ms/query"
        )
    return DatasetScores(dataset.name, len(dataset.corpus), baseline, scores)


# --- command ------------------------------------------------------------------------------------


def default_dirs(root: Path = EVALDATA) -> list[Path]:
    """Every folder of ``root`` holding ``corpus.jsonl``, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "corpus.jsonl").is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="BEIR folders")
    parser.add_argument("--configs", type=Path, default=DEFAULT_CONFIGS, help="TOML file")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT, help="lodo.{md,json}")
    parser.add_argument("--queries", type=int, default=None, help="first N judged queries per set")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="embedding cache")
    parser.add_argument("--quick", action="store_true", help=f"--queries {QUICK_QUERIES}")
    parser.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="worst",
        help="how a fold ranks configurations on its training sets (default: worst = the "
        "best worst-set gain, ties by mean; also printed: the other criterion's folds)",
    )
    add_summary_option(parser)
    args = parser.parse_args(argv)
    if args.queries is not None and args.queries < 1:
        parser.error(f"--queries must be a positive int, got {args.queries}")
    queries = args.queries or (QUICK_QUERIES if args.quick else None)
    dirs = list(args.dirs) or default_dirs()
    missing = [str(d) for d in dirs if not (d / "corpus.jsonl").is_file()]
    if missing:
        parser.error(f"not BEIR folders (no corpus.jsonl): {missing}")
    names = [d.resolve().name for d in dirs]
    if len(set(names)) != len(names):
        parser.error(f"DIRs name the folds, so their folder names must differ: {names}")
    if len(dirs) < 2:
        reason = f"evaluation data missing: need 2+ BEIR folders, found {[str(d) for d in dirs]}"
        if args.summary is None:
            parser.error(reason)
        print(reason, file=sys.stderr)
        write_summary(args.summary, [skipped("LODO pick vs QueryFusion", reason)])
        return 0
    try:
        configs = load_configs(args.configs)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    embed_model = default_embed_model()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    results = [
        evaluate_dataset(d, configs, embed_model, queries, args.cache_dir, log) for d in dirs
    ]
    selection = run_selection(results, args.criterion)
    command = "python benchmarks/select_default.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    markdown = render_markdown(selection, command.strip())
    other = run_selection(results, next(c for c in CRITERIA if c != args.criterion))
    other_folds = render_markdown(other).splitlines()[2 : 4 + len(other.folds)]
    markdown = (
        markdown.rstrip("\n")
        + f"\n\n### The same folds chosen by the `{other.criterion}` criterion\n\n"
        + "\n".join(other_folds)
        + "\n"
    )
    print(markdown)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output_dir / "lodo.md", markdown)
    data = selection_json(selection, command.strip())
    atomic_write_text(args.output_dir / "lodo.json", json.dumps(data, indent=2) + "\n")
    log(f"Wrote {args.output_dir / 'lodo.md'} and {args.output_dir / 'lodo.json'}.")
    write_summary(args.summary, summary_rows(selection))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
