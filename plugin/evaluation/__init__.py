"""Evaluation: BEIR datasets, ranking metrics, and a runner comparing retrieval systems."""

from ragdrop.evaluation.beir import BeirDataset, BeirDocument, load_beir, load_qrels
from ragdrop.evaluation.embedding_cache import (
    EmbeddingCache,
    embedding_file_key,
    texts_sha256,
)
from ragdrop.evaluation.metrics import (
    evaluate_rankings,
    latency_summary,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
)
from ragdrop.evaluation.report import markdown_report, markdown_table, write_outputs
from ragdrop.evaluation.runner import (
    EvalReport,
    EvalSettings,
    SystemResult,
    document_ranking,
    run_evaluation,
)
from ragdrop.evaluation.systems import (
    EvalContext,
    EvalSystem,
    SystemUnavailable,
    default_systems,
)

__all__ = [
    "BeirDataset",
    "BeirDocument",
    "EmbeddingCache",
    "EvalContext",
    "EvalReport",
    "EvalSettings",
    "EvalSystem",
    "SystemResult",
    "SystemUnavailable",
    "default_systems",
    "document_ranking",
    "embedding_file_key",
    "evaluate_rankings",
    "latency_summary",
    "load_beir",
    "load_qrels",
    "markdown_report",
    "markdown_table",
    "mrr_at_k",
    "ndcg_at_k",
    "percentile",
    "recall_at_k",
    "run_evaluation",
    "texts_sha256",
    "write_outputs",
]
