"""The extractive answer step: sentences embedded per question vs warmed at ingestion.

    .venv/bin/python -m benchmarks.answer_step [--quick] [--docs N] [--questions N]
        [--rounds N] [--summary PATH]

Indexes the first ``--docs`` of CPython's pydoc topics (what ``ragdrop demo`` indexes) both
ways, alternately for ``--rounds`` rounds, each time into a fresh data dir with a fresh
embedding cache, on the default pipeline without the reranker (it does not change the
answer step's work):

* before: ``ingest(warm_answers=False)``, the path before issue 17: each question's answer
  step embeds the sentences of its top passages (the first ask of each question is timed, so
  a passage an earlier question already read is cached, which favours this side);
* after: ``ingest()``, which also embeds every quotable sentence into the embedding cache, so
  the answer step only reads the cache.

Printed: ingest seconds (median over the rounds; models loaded beforehand) and the answer
step's milliseconds (the ``synthesize`` stage of `RagPipeline.query`, every question of every
round: p50 and p90), with ratios, and how many answers are identical on both sides. Goal (issue 17, item 3): < 50 ms p50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from llama_index.core import Document  # noqa: E402

from benchmarks._summary import Row, add_summary_option, write_summary  # noqa: E402
from ragdrop.pipeline import PipelineConfig, RagPipeline  # noqa: E402
from ragdrop.pipeline.documents import load_pydoc_topics  # noqa: E402
from ragdrop.pipeline.results import RagAnswer  # noqa: E402

COMPARED_ANSWER = "sentences warmed at ingestion vs embedded per question"
COMPARED_INGEST = "ingest with answer warm-up vs without"
TEMPLATES = ("How does {} work in Python?", "What is {} used for?", "When should I use {}?")


def questions_for(docs: list[Document], n: int) -> list[str]:
    """``n`` distinct questions naming the topics of ``docs``."""
    names = [d.id_.removeprefix("pydoc:").replace("-", " ") for d in docs]
    asked = [t.format(name) for t in TEMPLATES for name in names]
    return asked[:n]


def run_side(
    data_dir: Path, docs: list[Document], questions: list[str], warm: bool
) -> tuple[float, list[float], list[RagAnswer]]:
    """Ingest seconds, the answer step's ms per question, and the answers."""
    with RagPipeline(PipelineConfig(data_dir=data_dir, rerank=False)) as pipeline:
        pipeline.components.embed_model.get_text_embedding("load the model first")
        report = pipeline.ingest(docs, warm_answers=warm)
        answers = [pipeline.query(q) for q in questions]
    return report.seconds, [a.timings["synthesize"] * 1000 for a in answers], answers


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 documents, 30 questions")
    parser.add_argument("--docs", type=int, default=None, help="pydoc topics (default all)")
    parser.add_argument("--questions", type=int, default=None, help="default 60")
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (--quick 2)")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    docs = load_pydoc_topics()
    docs = docs[: args.docs or (20 if args.quick else len(docs))]
    questions = questions_for(docs, args.questions or (30 if args.quick else 60))
    rounds = max(1, args.rounds or (2 if args.quick else 3))
    print(f"{len(docs)} pydoc topics, {len(questions)} questions, {rounds} rounds, no reranker")

    ingests: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}
    answers: dict[bool, list[RagAnswer]] = {}
    with tempfile.TemporaryDirectory(prefix="ragdrop-answer-") as tmp:
        for n in range(rounds):  # alternated, so a change in the machine's load hits both
            for warm in (False, True):
                seconds, ms, got = run_side(Path(tmp, f"{n}-{warm}"), docs, questions, warm)
                ingests[warm].append(seconds)
                steps[warm].extend(ms)
                answers.setdefault(warm, got)
    before, after = answers[False], answers[True]
    ingest_before, ingest_after = (statistics.median(ingests[w]) for w in (False, True))
    ms_before, ms_after = steps[False], steps[True]

    same_sources = [
        [s.node_id for s in a.sources] == [s.node_id for s in b.sources]
        for a, b in zip(after, before, strict=True)
    ]
    identical = sum(
        a.answer == b.answer for a, b, same in zip(after, before, same_sources, strict=True) if same
    )
    p50_before, p50_after = statistics.median(ms_before), statistics.median(ms_after)
    print(f"\n{'':32}{'before':>10}{'after':>10}{'ratio':>9}")
    print(
        f"{'ingest (s)':32}{ingest_before:10.1f}{ingest_after:10.1f}"
        f"{ingest_after / ingest_before:8.2f}x"
    )
    print(
        f"{'answer step p50 (ms)':32}{p50_before:10.1f}{p50_after:10.1f}"
        f"{p50_after / p50_before:8.3f}x"
    )
    print(
        f"{'answer step p90 (ms)':32}{p90(ms_before):10.1f}{p90(ms_after):10.1f}"
        f"{p90(ms_after) / p90(ms_before):8.3f}x"
    )
    print(
        f"identical answers: {identical} of {sum(same_sources)} questions with the same "
        f"sources ({len(questions) - sum(same_sources)} retrieved differently)"
    )
    print(f"goal: answer step p50 < 50 ms -> {'met' if p50_after < 50 else 'NOT met'}")
    write_summary(
        args.summary,
        [
            Row(COMPARED_ANSWER, "answer step p50 (ms)", p50_after, p50_before),
            Row(COMPARED_INGEST, "ingest (s)", ingest_after, ingest_before),
        ],
    )


if __name__ == "__main__":
    main()
