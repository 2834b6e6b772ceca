"""Fixed-size chunking measured in the embedding model's own tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode
from pydantic import Field, model_validator

from ragdrop.core.validation import Int
from ragdrop.node_parsers.base import ChunkingNodeParser, PreparedDoc
from ragdrop.node_parsers.sentences import Span
from ragdrop.observability.stages import Stage, stage


class FixedSizeNodeParser(ChunkingNodeParser):
    """Chunks of at most ``chunk_size`` tokens that end at sentence ends when possible.

    A chunk ends at a sentence end, else at a clause end, else between words; a word is cut
    only when it alone exceeds the budget. The budget counts the metadata text embedded with
    the chunk, so ``node.get_content(MetadataMode.EMBED)`` never exceeds the model's window.
    Offsets are exact (``doc.text[node.start_char_idx:node.end_char_idx] == node.text``),
    node ids are fixed by the document id and offsets, empty documents are skipped (see
    ``last_stats``), and NUL bytes and lone surrogates become U+FFFD (offsets unchanged).

    Args:
        chunk_size: most tokens per chunk; None = the embedding model's window.
        chunk_overlap: most tokens a chunk repeats from the end of the previous one.
        size_unit: ``tokens`` (the embed model's tokenizer), ``characters`` or ``tiktoken``.
        embed_model: model whose tokenizer and window set the budget (default: MiniLM).

    Example:
        >>> from llama_index.core import Document
        >>> parser = FixedSizeNodeParser(chunk_size=64, chunk_overlap=8)
        >>> nodes = parser.get_nodes_from_documents([Document(text="One. Two.", id_="d")])
        >>> nodes[0].text, nodes[0].start_char_idx, nodes[0].end_char_idx
        ('One. Two.', 0, 9)
    """

    chunk_overlap: Int = Field(
        default=0, ge=0, description="Most tokens a chunk repeats from the previous chunk."
    )

    @classmethod
    def class_name(cls) -> str:
        return "RagdropFixedSizeNodeParser"

    @model_validator(mode="after")
    def _check_overlap(self) -> FixedSizeNodeParser:
        if self.chunk_size is not None and self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap must be smaller than chunk_size (0 <= chunk_overlap < "
                f"{self.chunk_size}), got chunk_overlap={self.chunk_overlap}"
            )
        return self

    def _chunk_spans(self, docs: list[PreparedDoc]) -> list[list[Span]]:
        _, size = self._resolve()
        if self.chunk_overlap >= size:
            raise ValueError(
                f"chunk_overlap must be smaller than chunk_size (0 <= chunk_overlap < {size}, "
                f"the model window), got chunk_overlap={self.chunk_overlap}"
            )
        return [self._fit(doc, doc.sentences, doc.counts, self.chunk_overlap) for doc in docs]

    def _parse_nodes(
        self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any
    ) -> list[BaseNode]:
        with stage(Stage.CHUNKING):
            docs = self._prepare(nodes, show_progress)
            return self._finish(docs, self._chunk_spans(docs))

    async def _aparse_nodes(
        self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any
    ) -> list[BaseNode]:
        # Pure CPU work: keep the event loop free while a large document is cut.
        return await asyncio.to_thread(self._parse_nodes, nodes, show_progress, **kwargs)
