"""What opt-in int8 embeddings cost in ranking: dense nDCG@10, fp32 ONNX vs int8 ONNX.

    .venv/bin/python -m benchmarks.int8_quality [--quick] [--data DIR ...] [--summary PATH]

For each BEIR-format set (default: the six in ``../shared/evaldata``) the corpus and the
judged queries are embedded with all-MiniLM-L6-v2 on ONNX Runtime in fp32 (``backend="onnx"``,
within 1e-4 cosine of the torch path: ``benchmarks/embeddings.py``) and with dynamic int8
quantization (``backend="onnx-int8"``), then ranked by exact cosine. Printed per set: nDCG@10
of each, the change, and the cosine between the two vectors of each document (mean and min).
Embeddings are cached as ``.npy`` under ``--cache`` (never in the repository). ``--quick``:
each set's first 50 judged queries over at most 1,000 documents.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from benchmarks._beir import (  # noqa: E402
    DEFAULT_CACHE,
    BeirDataset,
    cached_embeddings,
    evaldata,
    load_beir,
    missing_data,
    quick_subset,
)
from benchmarks._summary import Row, add_summary_option, skipped, write_summary  # noqa: E402
from ragdrop.embeddings import default_embed_model  # noqa: E402
from ragdrop.evaluation.metrics import ndcg_at_k  # noqa: E402

SETS = ("scifact", "cranfield", "cisi", "lisa", "time", "adi")
BACKENDS = ("onnx", "onnx-int8")
COMPARED = "int8 vs fp32 embeddings (dense)"


def dense_ndcg(ds: BeirDataset, queries: np.ndarray, corpus: np.ndarray) -> float:
    """Mean nDCG@10 of exact-cosine rankings (the vectors are unit length)."""
    scores = queries @ corpus.T
    top = np.argsort(-scores, axis=1)[:, :10]
    values = [
        ndcg_at_k([ds.doc_ids[j] for j in top[i]], ds.qrels.get(qid, {}), 10)
        for i, qid in enumerate(ds.query_ids)
    ]
    return statistics.fmean(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 queries, <= 1,000 docs per set")
    parser.add_argument("--data", type=Path, nargs="*", default=None, help="BEIR folders")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    folders = args.data or [evaldata(name) for name in SETS]
    models = {b: default_embed_model(backend=b, onnx_dir=args.cache / "onnx") for b in BACKENDS}
    rows: list[Row] = []
    print(
        f"{'set':<10} {'docs':>6} {'queries':>7} {'fp32':>7} {'int8':>7} {'change':>8} "
        f"{'cos mean':>9} {'cos min':>8}"
    )
    for folder in folders:
        reason = missing_data(folder)
        if reason is not None:
            print(f"{folder.name:<10} skipped: {reason}")
            rows.append(skipped(COMPARED, reason, f"{folder.name} nDCG@10"))
            continue
        ds = load_beir(folder)
        if args.quick:
            ds = quick_subset(ds, queries=50, docs=1000)
        ndcg, vectors = {}, {}
        for backend, model in models.items():
            tag = f"{ds.name}-{len(ds.doc_ids)}-{backend}"
            q = cached_embeddings(ds.query_texts, args.cache, f"{tag}-queries", model)
            d = cached_embeddings(ds.doc_texts, args.cache, f"{tag}-corpus", model)
            ndcg[backend] = dense_ndcg(ds, q, d)
            vectors[backend] = d
        cos = np.sum(vectors["onnx"] * vectors["onnx-int8"], axis=1)
        change = ndcg["onnx-int8"] - ndcg["onnx"]
        print(
            f"{ds.name:<10} {len(ds.doc_ids):>6} {len(ds.query_ids):>7} {ndcg['onnx']:>7.4f} "
            f"{ndcg['onnx-int8']:>7.4f} {change:>+8.4f} {float(cos.mean()):>9.5f} "
            f"{float(cos.min()):>8.5f}"
        )
        rows.append(
            Row(COMPARED, f"{ds.name} nDCG@10", ndcg["onnx-int8"], ndcg["onnx"], better="higher")
        )
    write_summary(args.summary, rows)


if __name__ == "__main__":
    main()
