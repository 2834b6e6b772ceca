"""BEIR-format evaluation helpers shared by the retrieval benchmarks (data stays outside the repo)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BeirDataset:
    """Corpus, judged queries and graded qrels of one BEIR-format dataset."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``; keep judged queries."""
    root = Path(path)
    doc_ids: list[str] = []
    doc_texts: list[str] = []
    with open(root / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title = (row.get("title") or "").strip()
            text = (row.get("text") or "").strip()
            doc_ids.append(str(row["_id"]))
            doc_texts.append(f"{title} {text}".strip())
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        for qid, did, score in reader:
            qrels.setdefault(qid, {})[did] = int(score)
    query_ids: list[str] = []
    query_texts: list[str] = []
    with open(root / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            qid = str(row["_id"])
            if any(v > 0 for v in qrels.get(qid, {}).values()):
                query_ids.append(qid)
                query_texts.append(row["text"])
    return BeirDataset(root.name, doc_ids, doc_texts, query_ids, query_texts, qrels)


def ndcg_at_k(ranked: list[str], judged: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gain (the BEIR/pytrec_eval definition)."""
    dcg = sum(judged.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def cached_embeddings(
    texts: list[str], cache_dir: Path, tag: str, embed_model: object
) -> np.ndarray:
    """Embed ``texts`` once and keep the float32 matrix as ``.npy`` in ``cache_dir``."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{tag}-{digest}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    vectors = np.asarray(embed_model.get_text_embedding_batch(texts), dtype=np.float32)  # type: ignore[attr-defined]
    np.save(path, vectors, allow_pickle=False)
    return vectors
