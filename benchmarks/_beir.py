"""BEIR-format evaluation helpers shared by the retrieval benchmarks (data stays outside the repo)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragdrop import evaluation
from ragdrop.core.files import atomic_write, private_dir
from ragdrop.embeddings import SentenceTransformerEmbedding
from ragdrop.evaluation.metrics import ndcg_at_k

__all__ = [
    "DEFAULT_CACHE",
    "BeirDataset",
    "cached_embeddings",
    "evaldata",
    "load_beir",
    "load_with_vectors",
    "missing_data",
    "ndcg_at_k",
    "quick_subset",
]

# Evaluation data lives beside the repository, never in it: ../shared/evaldata/<set>.
EVALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "evaldata"
# Embeddings are computed once per machine and shared by every benchmark that reads them.
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "ragdrop-bench"
# --quick embeds this much of a corpus: all of scifact (5,183 abstracts) took over 10 minutes
# on 2 busy cores (~10 documents/s), this slice about 2 the first time, then it is cached.
QUICK_QUERIES = 100
QUICK_DOCS = 1000


def evaldata(name: str) -> Path:
    """The default directory of the BEIR-format set ``name``: ``../shared/evaldata/<name>``."""
    return EVALDATA / name


def missing_data(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a BEIR dataset, or ``None`` when it can."""
    if (Path(path) / "corpus.jsonl").is_file():
        return None
    return f"evaluation data missing: {path}"


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


def quick_subset(
    ds: BeirDataset, queries: int = QUICK_QUERIES, docs: int = QUICK_DOCS
) -> BeirDataset:
    """The first ``queries`` judged queries over ``docs`` documents: every document judged for
    those queries, then the others in corpus order (the slice ``--quick`` measures)."""
    query_ids = ds.query_ids[:queries]
    judged = {doc_id for qid in query_ids for doc_id in ds.qrels.get(qid, {})}
    room = max(0, docs - len(judged))
    keep = [i for i, doc_id in enumerate(ds.doc_ids) if doc_id in judged]
    keep += [i for i, doc_id in enumerate(ds.doc_ids) if doc_id not in judged][:room]
    keep.sort()
    return BeirDataset(
        ds.name,
        [ds.doc_ids[i] for i in keep],
        [ds.doc_texts[i] for i in keep],
        query_ids,
        ds.query_texts[:queries],
        {qid: ds.qrels[qid] for qid in query_ids if qid in ds.qrels},
    )


def cached_embeddings(
    texts: list[str], cache_dir: Path, tag: str, embed_model: object
) -> np.ndarray:
    """Embed ``texts`` once and keep the float32 matrix as ``.npy`` in ``cache_dir``."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{tag}-{digest}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    private_dir(path.parent, "embedding cache")
    vectors = np.asarray(embed_model.get_text_embedding_batch(texts), dtype=np.float32)  # type: ignore[attr-defined]
    atomic_write(path, lambda handle: np.save(handle, vectors, allow_pickle=False))
    return vectors


def load_with_vectors(
    path: str | Path, cache_dir: Path = DEFAULT_CACHE, quick: bool = False
) -> tuple[BeirDataset, np.ndarray, np.ndarray]:
    """A dataset (its `quick_subset` if ``quick``) with its (queries, corpus) all-MiniLM-L6-v2
    embeddings, cached in ``cache_dir``."""
    ds = quick_subset(load_beir(path)) if quick else load_beir(path)
    model = SentenceTransformerEmbedding()  # loads the model only if a vector is missing
    q = cached_embeddings(ds.query_texts, cache_dir, f"{ds.name}-queries", model)
    d = cached_embeddings(ds.doc_texts, cache_dir, f"{ds.name}-corpus", model)
    return ds, q, d
