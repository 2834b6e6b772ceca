"""Score records on result nodes: one way to copy a node and say where its score came from.

Retrievers and postprocessors never change the caller's nodes: each result is a new
``NodeWithScore`` over a copy of the node whose metadata gains a record under one key
(``fusion`` for the hybrid retriever, ``rerank`` for the reranker), hidden from the embedding
and LLM views so it never reaches an embedding or a prompt.

Example:
    >>> from llama_index.core.schema import NodeWithScore, TextNode
    >>> hit = NodeWithScore(node=TextNode(text="a", id_="a"), score=0.5)
    >>> out = annotate(hit, FUSION_KEY, {"score": 0.1}, score=0.1)
    >>> out.node.metadata, out.score, hit.node.metadata
    ({'fusion': {'score': 0.1}}, 0.1, {})
    >>> FUSION_KEY in out.node.excluded_llm_metadata_keys
    True
"""

from __future__ import annotations

from collections.abc import Mapping

from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore

FUSION_KEY = "fusion"
RERANK_KEY = "rerank"
SCORE_KEYS = (FUSION_KEY, RERANK_KEY)


def annotated_node(node: BaseNode, key: str, record: Mapping[str, object]) -> BaseNode:
    """A copy of ``node`` with ``metadata[key] = record``, hidden from embed and LLM views."""
    copy = node.model_copy()
    copy.metadata = {**node.metadata, key: dict(record)}
    copy.excluded_embed_metadata_keys = _with_key(node.excluded_embed_metadata_keys, key)
    copy.excluded_llm_metadata_keys = _with_key(node.excluded_llm_metadata_keys, key)
    return copy


def annotate(
    item: NodeWithScore, key: str, record: Mapping[str, object], score: float | None
) -> NodeWithScore:
    """A new ``NodeWithScore`` (``score``) over `annotated_node` of ``item.node``."""
    return NodeWithScore(node=annotated_node(item.node, key, record), score=score)


def _with_key(keys: list[str], key: str) -> list[str]:
    return list(keys) if key in keys else [*keys, key]


def content_without_scores(node: BaseNode, mode: MetadataMode) -> str:
    """``node.get_content(mode)`` without score records: a passage's text (and any cache key
    built from it) must not change with the rank it was retrieved at."""
    if mode == MetadataMode.NONE or not any(k in node.metadata for k in SCORE_KEYS):
        return node.get_content(metadata_mode=mode)
    kept = {k: v for k, v in node.metadata.items() if k not in SCORE_KEYS}
    return node.model_copy(update={"metadata": kept}).get_content(metadata_mode=mode)
