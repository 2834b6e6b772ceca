"""A repeated question on the default pipeline: cold vs served from the fused-result cache.

    .venv/bin/python -m benchmarks.repeat_question [--quick] [--docs N] [--questions N]
        [--repeats N] [--beir DIR] [--summary PATH]

Builds the default `RagPipeline` (embedded Qdrant Edge, hybrid retriever with client fusion
and the feedback pass, query cache on) over a few hundred documents: synthetic ones by
default, or the first ``--docs`` documents of a BEIR-format set (``--beir DIR``; its queries
are asked). Each of ``--questions`` distinct questions is asked cold once, then repeated
``--repeats`` times; medians over the questions are printed for

* retrieval: what `RagPipeline.query` retrieves with (the pipeline's first-stage
  retriever, ``retrieve(QueryBundle(question))``), and the same repeats with the fused
  cache switched off (``cache_results=False``: the path before issue 16, item 6);
* the full ``pipeline.query`` (retrieval, the reranker when one is installed, the answer),
  on another set of questions so that its cold asks are cold: a repeat is answered from
  the pipeline's answer cache (`ragdrop.pipeline.answer_cache`); the same repeats with it
  switched off (``pipeline.answer_cache.enabled = False``: the fused cache answers the
  retrieval, the reranker and the answer step run again) are printed beside it.

Goal (issue 16, item 6): a repeated question ≥ 50× faster than cold and < 2 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
from llama_index.core import Document  # noqa: E402
from llama_index.core.schema import QueryBundle  # noqa: E402

from benchmarks._beir import load_beir  # noqa: E402
from benchmarks._summary import Row, add_summary_option, write_summary  # noqa: E402
from ragdrop.pipeline import PipelineConfig, RagPipeline  # noqa: E402
from ragdrop.retrievers import HybridRetriever  # noqa: E402

COMPARED = "repeated question vs the same question cold"
TOPICS = (
    "vector databases store embeddings and payloads for nearest neighbour search",
    "bread is baked from flour water salt and yeast after the dough rises",
    "a context manager closes files when the with block ends",
    "bm25 ranks documents by term frequency and inverse document frequency",
    "cross encoders read the query and the passage together to rerank",
    "rivers carry sediment from mountains to the sea and shape valleys",
    "the orchestra tuned their violins before the symphony began",
    "solar panels convert sunlight into electricity with photovoltaic cells",
    "migrating birds navigate with the earth's magnetic field and the stars",
    "a compiler translates source code into machine instructions",
)


def synthetic(n_docs: int, n_questions: int, seed: int = 0) -> tuple[list[Document], list[str]]:
    """``n_docs`` short documents (a topic sentence and numbered details) and questions
    built from their words, so both retriever sides find them."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n_docs):
        topic = TOPICS[i % len(TOPICS)]
        words = topic.split()
        details = " ".join(
            f"Note {i}.{j}: " + " ".join(rng.choice(words, size=8)) + "." for j in range(4)
        )
        docs.append(Document(text=f"{topic.capitalize()}. {details}", id_=f"doc-{i}"))
    questions = []
    for q in range(n_questions):
        words = TOPICS[q % len(TOPICS)].split()
        questions.append(f"what about {' '.join(rng.choice(words, size=5))} in note {q}?")
    return docs, questions


def from_beir(path: Path, n_docs: int, n_questions: int) -> tuple[list[Document], list[str]]:
    ds = load_beir(path)
    docs = [
        Document(text=text, id_=doc_id)
        for doc_id, text in zip(ds.doc_ids[:n_docs], ds.doc_texts[:n_docs], strict=True)
        if text.strip()
    ]
    return docs, ds.query_texts[:n_questions]


def ms(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def cold_and_repeats(
    questions: list[str], ask: Callable[[str], object], repeats: int
) -> tuple[list[float], list[float]]:
    """Per question: the cold ask, and the median of its repeats (ms)."""
    cold, warm = [], []
    for question in questions:
        once = partial(ask, question)
        cold.append(ms(once))
        warm.append(statistics.median(ms(once) for _ in range(repeats)))
    return cold, warm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 documents, 30 questions")
    parser.add_argument("--docs", type=int, default=None, help="documents (default 500)")
    parser.add_argument("--questions", type=int, default=None, help="per measure (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each question")
    parser.add_argument("--beir", type=Path, default=None, help="a BEIR-format set instead")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    n_docs = args.docs or (300 if args.quick else 500)
    n_questions = max(30, args.questions or (30 if args.quick else 50))
    if args.beir is not None:
        docs, questions = from_beir(args.beir, n_docs, 2 * n_questions + 5)
    else:
        docs, questions = synthetic(n_docs, 2 * n_questions + 5)
    if len(set(questions)) < 2 * n_questions + 5:
        raise SystemExit(f"need {2 * n_questions + 5} distinct questions, got {len(questions)}")
    warmup, retrieval_qs, query_qs = (
        questions[:5],
        questions[5 : 5 + n_questions],
        questions[5 + n_questions :],
    )

    with tempfile.TemporaryDirectory(prefix="ragdrop-repeat-") as tmp:
        config = PipelineConfig(data_dir=Path(tmp) / "rag", collection="bench")
        with RagPipeline(config) as pipeline:
            started = time.perf_counter()
            pipeline.ingest(docs)
            ingest_s = time.perf_counter() - started
            parts = pipeline.components
            retriever = parts.retriever
            if not isinstance(retriever, HybridRetriever):
                raise SystemExit(f"the default retriever is {type(retriever).__name__}")
            for question in warmup:  # models loaded, first-call costs paid
                pipeline.query(question)

            def retrieve(question: str) -> object:
                return retriever.retrieve(QueryBundle(question))

            r_cold, r_warm = cold_and_repeats(retrieval_qs, retrieve, args.repeats)
            retriever.cache_results = False
            _, r_off = cold_and_repeats(retrieval_qs[:10], retrieve, args.repeats)
            retriever.cache_results = True
            q_cold, q_warm = cold_and_repeats(query_qs, pipeline.query, args.repeats)
            pipeline.answer_cache.enabled = False
            _, q_off = cold_and_repeats(query_qs[:10], pipeline.query, args.repeats)
            pipeline.answer_cache.enabled = True

    p50 = statistics.median
    rows = [
        ("retrieval", p50(r_cold), p50(r_warm)),
        ("full query", p50(q_cold), p50(q_warm)),
    ]
    print(
        f"{len(docs)} documents ingested in {ingest_s:.1f} s ({parts.rerank_status}); "
        f"{n_questions} questions per measure, each cold once then {args.repeats} repeats"
    )
    print(f"{'path':<12} {'cold p50 ms':>12} {'repeat p50 ms':>14} {'cold/repeat':>12}  goal")
    for name, cold, warm in rows:
        print(f"{name:<12} {cold:>12.2f} {warm:>14.3f} {cold / warm:>11.1f}x  ≥ 50x, < 2 ms")
    print(
        f"retrieval repeat without the fused cache (cache_results=False, 10 questions): "
        f"p50 {p50(r_off):.2f} ms"
    )
    print(
        f"full query repeat without the answer cache (answer_cache.enabled=False, "
        f"10 questions): p50 {p50(q_off):.2f} ms"
    )
    write_summary(
        args.summary,
        [Row(COMPARED, f"{name}: p50 ms (repeat vs cold)", warm, cold) for name, cold, warm in rows]
        + [
            Row("fused cache vs none", "retrieval repeat p50 ms", p50(r_warm), p50(r_off)),
            Row("answer cache vs none", "full query repeat p50 ms", p50(q_warm), p50(q_off)),
        ],
    )


if __name__ == "__main__":
    main()
