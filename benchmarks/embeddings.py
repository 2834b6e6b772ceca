"""Embedding throughput: all-MiniLM-L6-v2 on torch vs its ONNX Runtime export (fp32, int8).

The same texts go through `SentenceTransformerEmbedding` with ``backend="torch"`` (the
baseline: sentence-transformers), ``"onnx"`` and ``"onnx-int8"``, interleaved round by round
in one process so that every ratio compares like with like:

- 96 SciFact passages cut to 180 words, embedded as one call (``get_text_embedding_batch``);
- 96 short SciFact questions, one ``get_query_embedding`` call each (query latency).

Reported: medians over the rounds, each backend's speed against torch, and the worst cosine
to torch's vector over all those texts. The exports are built (once) before timing, under
``--onnx-dir``; their build time is printed.

Usage: ``python -m benchmarks.embeddings [--quick] [--rounds N] [--data DIR] [--onnx-dir DIR]
[--summary PATH]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._beir import DEFAULT_CACHE, evaldata, missing_data
from benchmarks._summary import Row, add_summary_option, skipped, write_summary

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BACKENDS = ("torch", "onnx", "onnx-int8")
COMPARED = {"onnx": "ONNX fp32 vs torch", "onnx-int8": "ONNX int8 vs torch"}
PASSAGES, PASSAGE_WORDS = 96, 180


def load_texts(data: Path, passages: int, words: int) -> tuple[list[str], list[str]]:
    """``passages`` corpus texts of at least ``words`` words cut to ``words``, and as many
    questions, from a BEIR folder."""
    docs: list[str] = []
    with (data / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("text", "").split()
            if len(text) >= words:
                docs.append(" ".join(text[:words]))
                if len(docs) == passages:
                    break
    with (data / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for line in itertools.islice(handle, passages)]
    return docs, queries


def timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import numpy as np

    from ragdrop.embeddings import SentenceTransformerEmbedding

    passages, queries = load_texts(args.data, PASSAGES, PASSAGE_WORDS)
    models = {}
    for backend in BACKENDS:
        model = SentenceTransformerEmbedding(backend=backend, onnx_dir=args.onnx_dir)
        print(f"{backend}: first use (load, export if missing) {timed(model.warm_up):.1f} s")
        models[backend] = model
    vectors = {
        b: np.asarray(m.get_text_embedding_batch(passages + queries)) for b, m in models.items()
    }
    seconds: dict[str, dict[str, list[float]]] = {
        b: {"passages": [], "queries": []} for b in BACKENDS
    }
    for _ in range(args.rounds):
        for backend, model in models.items():
            seconds[backend]["passages"].append(
                timed(lambda m=model: m.get_text_embedding_batch(passages))
            )
            seconds[backend]["queries"].append(
                timed(lambda m=model: [m.get_query_embedding(q) for q in queries])
            )
    results: dict[str, dict[str, float]] = {}
    for backend in BACKENDS:
        cosine = (vectors[backend] * vectors["torch"]).sum(axis=1)
        results[backend] = {
            "passages_per_s": len(passages) / statistics.median(seconds[backend]["passages"]),
            "queries_per_s": len(queries) / statistics.median(seconds[backend]["queries"]),
            "min_cosine": float(cosine.min()),
        }
    for backend in BACKENDS:
        base = results["torch"]
        results[backend]["passages_ratio"] = (
            results[backend]["passages_per_s"] / base["passages_per_s"]
        )
        results[backend]["queries_ratio"] = (
            results[backend]["queries_per_s"] / base["queries_per_s"]
        )
    return results


def print_table(results: dict[str, dict[str, float]], rounds: int) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"\n{PASSAGES} passages of {PASSAGE_WORDS} words in one call, {PASSAGES} queries one "
        f"by one; medians of {rounds} rounds, {cores} cores"
    )
    header = ("backend", "passages/s", "vs torch", "queries/s", "vs torch", "min cos to torch")
    print("{:<10} {:>11} {:>9} {:>10} {:>9} {:>17}".format(*header))
    for backend, r in results.items():
        print(
            f"{backend:<10} {r['passages_per_s']:>11.1f} {r['passages_ratio']:>8.2f}x "
            f"{r['queries_per_s']:>10.1f} {r['queries_ratio']:>8.2f}x {r['min_cosine']:>17.7f}"
        )


def summary_rows(results: dict[str, dict[str, float]]) -> list[Row]:
    rows = []
    base = results["torch"]
    for backend, compared in COMPARED.items():
        ours = results[backend]
        rows += [
            Row(
                compared,
                f"passages/s ({PASSAGES} x {PASSAGE_WORDS} words)",
                round(ours["passages_per_s"], 2),
                round(base["passages_per_s"], 2),
                "higher",
            ),
            Row(
                compared,
                "queries/s (one by one)",
                round(ours["queries_per_s"], 2),
                round(base["queries_per_s"], 2),
                "higher",
            ),
            Row(compared, "min cosine to torch", round(ours["min_cosine"], 7), 1.0, "higher"),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per backend")
    parser.add_argument("--data", type=Path, default=evaldata("scifact"), help="BEIR folder")
    parser.add_argument(
        "--onnx-dir", type=Path, default=DEFAULT_CACHE / "onnx", help="ONNX export cache"
    )
    add_summary_option(parser)
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    reason = missing_data(args.data)
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        write_summary(args.summary, [skipped(COMPARED["onnx"], reason)])
        return 0
    results = run(args)
    print_table(results, args.rounds)
    write_summary(args.summary, summary_rows(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
