"""Retrievers: incremental BM25, rank and score fusion, feedback, and BM25 + vector hybrid search."""

from ragdrop.retrievers.bm25.index import RANK_BM25, BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.sparse import BM25SparseEncoder, bm25_sparse_functions
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.dense import ArrayVectorRetriever
from ragdrop.retrievers.feedback import PseudoRelevanceFeedback
from ragdrop.retrievers.fusion import (
    FUSION_METHODS,
    FUSION_MODES,
    FusionMethod,
    FusionMode,
    fuse_result_lists,
    reciprocal_rank_fusion,
)
from ragdrop.retrievers.hybrid import HybridRetriever
from ragdrop.retrievers.store_sync import StoreWriteFollower, store_bm25

__all__ = [
    "FUSION_METHODS",
    "FUSION_MODES",
    "RANK_BM25",
    "ArrayVectorRetriever",
    "BM25Index",
    "BM25Retriever",
    "BM25SparseEncoder",
    "BM25Tokenizer",
    "FusionMethod",
    "FusionMode",
    "HybridRetriever",
    "PseudoRelevanceFeedback",
    "StoreWriteFollower",
    "bm25_sparse_functions",
    "fuse_result_lists",
    "reciprocal_rank_fusion",
    "store_bm25",
]
