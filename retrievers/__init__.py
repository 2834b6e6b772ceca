"""Retrievers: incremental BM25, reciprocal rank fusion, and BM25 + vector hybrid search."""

from ragdrop.retrievers.bm25.index import BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.sparse import BM25SparseEncoder, bm25_sparse_functions
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.dense import ArrayVectorRetriever
from ragdrop.retrievers.fusion import FUSION_MODES, FusionMode, reciprocal_rank_fusion
from ragdrop.retrievers.hybrid import HybridRetriever
from ragdrop.retrievers.store_sync import StoreWriteFollower, store_bm25

__all__ = [
    "FUSION_MODES",
    "ArrayVectorRetriever",
    "BM25Index",
    "BM25Retriever",
    "BM25SparseEncoder",
    "BM25Tokenizer",
    "FusionMode",
    "HybridRetriever",
    "StoreWriteFollower",
    "bm25_sparse_functions",
    "reciprocal_rank_fusion",
    "store_bm25",
]
