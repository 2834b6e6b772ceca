"""BM25: tokenizer, scoring functions, incremental inverted index, LlamaIndex retriever."""

from ragdrop.retrievers.bm25.index import BM25Index
from ragdrop.retrievers.bm25.retriever import BM25Retriever
from ragdrop.retrievers.bm25.tokenizer import BM25Tokenizer

__all__ = ["BM25Index", "BM25Retriever", "BM25Tokenizer"]
