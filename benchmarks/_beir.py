"""BEIR-format evaluation helpers shared by the retrieval benchmarks (data stays outside the repo)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ragdrop import evaluation
from ragdrop.evaluation.metrics import ndcg_at_k

__all__ = ["BeirDataset", "cached_embeddings", "load_beir", "ndcg_at_k"]


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
    """`ragdrop.evaluation.load_beir` (judged queries only) as flat, index-aligned lists."""
    data = evaluation.load_beir(path, split=split)
    docs = list(data.corpus.values())
    return BeirDataset(
        data.name,
        [d.doc_id for d in docs],
        [d.full_text for d in docs],
        list(data.queries),
        list(data.queries.values()),
        data.qrels,
    )


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
