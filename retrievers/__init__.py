"""Retrievers: incremental BM25, reciprocal rank fusion, and BM25 + vector hybrid search."""

from ragdrop.retrievers.bm25.index import BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.sparse import BM25SparseEncoder
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer
from ragdrop.retrievers.fusion import reciprocal_rank_fusion
from ragdrop.retrievers.hybrid import HybridRetriever, bm25_sparse_functions, store_bm25

__all__ = [
    "BM25Index",
    "BM25Retriever",
    "BM25SparseEncoder",
    "BM25Tokenizer",
    "HybridRetriever",
    "bm25_sparse_functions",
    "reciprocal_rank_fusion",
    "store_bm25",
]
