"""A tiny synthetic BEIR dataset written to disk, for the loader, the runner and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CORPUS: dict[str, tuple[str, str]] = {
    "qdrant": ("Qdrant", "Qdrant is a vector database written in Rust with HNSW indexes."),
    "bm25": ("BM25", "BM25 ranks documents by term frequency and inverse document frequency."),
    "bread": ("Baking bread", "Mix flour, water, salt and yeast, knead the dough and bake it."),
    "tea": ("Green tea", "Green tea is brewed at eighty degrees for two or three minutes."),
    "python": (
        "Python with",
        "The with statement calls __enter__ and __exit__ on a context manager.",
    ),
    "bikes": ("Bicycles", "Bicycle chains need oil every few hundred kilometres of riding."),
    "rust": (
        "Rust ownership",
        "Rust's borrow checker enforces ownership and lifetimes at compile time.",
    ),
    "garden": ("Tomatoes", "Tomato plants need full sun, deep watering and a sturdy stake."),
}
TINY_QUERIES: dict[str, str] = {
    "q1": "which vector database uses HNSW indexes",
    "q2": "how do I bake bread with yeast",
    "q3": "what temperature to brew green tea",
    "q4": "bicycle chain oil",
    "q5": "an unjudged question about nothing",
    "q6": "tomato plants sun and watering",
}
# q5 has no judgements; q6 only a non-relevant one: both are left out of the evaluation.
TINY_QRELS: list[tuple[str, str, int]] = [
    ("q1", "qdrant", 2),
    ("q1", "rust", 0),
    ("q2", "bread", 1),
    ("q3", "tea", 1),
    ("q4", "bikes", 1),
    ("q6", "garden", 0),
]


def write_beir(
    root: Path,
    corpus: dict[str, tuple[str, str]] = TINY_CORPUS,
    queries: dict[str, str] = TINY_QUERIES,
    qrels: list[tuple[str, str, int]] = TINY_QRELS,
) -> Path:
    """Write a BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv) at ``root``."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, (title, text) in corpus.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for qid, text in queries.items():
            handle.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
