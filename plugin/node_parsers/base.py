"""What both chunkers share: size units, budgets, sanitising, and building LlamaIndex nodes."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import NodeParser
from llama_index.core.node_parser.node_utils import default_id_func
from llama_index.core.schema import (
    BaseNode,
    Document,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.utils import get_tqdm_iterable
from pydantic import Field, PrivateAttr, model_validator

from ragdrop.core.copying import deep_copy_component
from ragdrop.core.validation import Int
from ragdrop.embeddings import default_embed_model
from ragdrop.node_parsers.packing import MID_WORD, Atoms, atomize, pack_atoms
from ragdrop.node_parsers.sentences import Span, sanitize_text, split_sentences
from ragdrop.node_parsers.token_counter import (
    CharacterCounter,
    HuggingFaceTokenCounter,
    SizeUnit,
    TiktokenCounter,
    TokenCounter,
)

logger = logging.getLogger(__name__)

_NODE_NAMESPACE = uuid.UUID("4f1c9a52-3f0e-5b7a-9d51-7c0a2b6e8e11")
_MAX_REPAIRS = 6


@dataclass(frozen=True)
class ChunkingStats:
    """What the most recent call of a node parser did."""

    documents: int = 0
    skipped_empty: int = 0
    nodes: int = 0
    sanitized_characters: int = 0


@dataclass
class PreparedDoc:
    """One non-empty input, sanitised and cut into sentences."""

    source: BaseNode
    text: str
    budget: int
    sentences: list[Span]
    counts: list[int]
    verify: bool


def node_id_for(ref_doc_id: str, start: int, end: int, text: str) -> str:
    """A UUID (Qdrant accepts it as a point id) fixed by the document, offsets and text."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return str(uuid.uuid5(_NODE_NAMESPACE, f"{ref_doc_id}\x1f{start}\x1f{end}\x1f{digest}"))


def embedded_text(source: BaseNode, content: str, include_metadata: bool) -> str:
    """The text an embedding model reads for a chunk of ``source`` (LlamaIndex's EMBED mode)."""
    if not include_metadata:
        return content
    metadata_str = source.get_metadata_str(mode=MetadataMode.EMBED).strip()
    if not metadata_str:
        return content
    template = getattr(source, "text_template", "{metadata_str}\n\n{content}")
    return str(template.format(content=content, metadata_str=metadata_str).strip())


def _related_info(source: BaseNode) -> RelatedNodeInfo:
    try:
        return source.as_related_node_info()
    except UnicodeEncodeError:
        # LlamaIndex hashes a Document's text as strict UTF-8, which a lone surrogate breaks.
        text = source.get_content(metadata_mode=MetadataMode.NONE)
        digest = hashlib.sha256(f"{text}{source.metadata}".encode("utf-8", "surrogatepass"))
        return RelatedNodeInfo(
            node_id=source.node_id,
            node_type=source.get_type(),
            metadata=source.metadata,
            hash=digest.hexdigest(),
        )


class ChunkingNodeParser(NodeParser):
    """Base of ragdrop's node parsers: budgets in model tokens, exact offsets, stable ids.

    Subclasses implement ``_spans_for`` (the chunk spans of prepared documents) and
    ``_aspans_for``; everything else, sync or async, is shared.
    """

    chunk_size: Int | None = Field(
        default=None,
        gt=0,
        description=(
            "Most units per chunk, counting the metadata text embedded with it and not the "
            "model's special tokens. None = the embedding model's window."
        ),
    )
    size_unit: SizeUnit = Field(
        default=SizeUnit.TOKENS,
        description="What chunk_size counts: the embed model's tokens, characters or tiktoken.",
    )
    tiktoken_encoding: str = Field(
        default="cl100k_base", description="Encoding used when size_unit is 'tiktoken'."
    )
    embed_model: BaseEmbedding | None = Field(
        default=None,
        exclude=True,
        description="Embedding model whose tokenizer and window set the budget; None = MiniLM.",
    )
    tokenizer: Any = Field(
        default=None,
        exclude=True,
        description="Hugging Face tokenizer overriding the embed model's for size_unit 'tokens'.",
    )

    _counter: TokenCounter | None = PrivateAttr(default=None)
    _limit: int | None = PrivateAttr(default=None)
    _default_embed: BaseEmbedding | None = PrivateAttr(default=None)
    _counter_key: tuple[Any, ...] | None = PrivateAttr(default=None)
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _last_stats: ChunkingStats = PrivateAttr(default_factory=ChunkingStats)

    @model_validator(mode="before")
    @classmethod
    def _check_unit(cls, data: Any) -> Any:
        if isinstance(data, dict) and "size_unit" in data:
            unit = data["size_unit"]
            allowed = [u.value for u in SizeUnit]
            if not isinstance(unit, SizeUnit) and unit not in allowed:
                raise ValueError(f"size_unit must be one of {allowed}, got {unit!r}")
        return data

    @model_validator(mode="before")
    @classmethod
    def _read_serialized_id_func(cls, data: Any) -> Any:
        # to_dict writes id_func as {"id_func_name": ...}, which LlamaIndex's own parsers
        # cannot read back; the default is restored, a custom one must be passed again.
        if not isinstance(data, dict) or not isinstance(data.get("id_func"), dict):
            return data
        name = data["id_func"].get("id_func_name")
        if name != default_id_func.__name__:
            raise ValueError(
                f"id_func={data['id_func']!r} names a function that cannot be restored from "
                "a dict; pass the function again: from_dict(data, id_func=my_id_func)"
            )
        return {k: v for k, v in data.items() if k != "id_func"}

    @model_validator(mode="after")
    def _check_size(self) -> ChunkingNodeParser:
        if self.size_unit is not SizeUnit.TOKENS and self.chunk_size is None:
            raise ValueError(
                f"chunk_size is required when size_unit={self.size_unit.value!r} "
                "(only 'tokens' can default to the embedding model's window)"
            )
        return self

    def __deepcopy__(self, memo: dict[int, object] | None = None) -> Self:
        # The copy shares the loaded tokenizer and counters (rebuilt when a setting
        # changes), never the lock; LlamaIndex deep-copies transformations.
        return deep_copy_component(
            self, memo, share=("tokenizer", "_counter", "_default_embed"), fresh=("_lock",)
        )

    @property
    def last_stats(self) -> ChunkingStats:
        """Counts from the most recent call (documents, skipped empty ones, nodes)."""
        return self._last_stats

    # --- size unit -------------------------------------------------------------------------

    def _model_for_tokens(self) -> BaseEmbedding:
        if self.embed_model is not None:
            return self.embed_model
        with self._lock:
            if self._default_embed is None:
                self._default_embed = default_embed_model()
            return self._default_embed

    def _resolve(self) -> tuple[TokenCounter, int]:
        # Settings are mutable pydantic fields: rebuild the counter when one of them changed.
        key = (
            self.chunk_size,
            self.size_unit,
            self.tiktoken_encoding,
            id(self.embed_model),
            id(self.tokenizer),
        )
        with self._lock:
            if self._counter is None or self._counter_key != key:
                self._counter, self._limit = self._build_counter()
                self._counter_key = key
            counter, limit = self._counter, self._limit
        if limit is None:  # pragma: no cover - set together with the counter
            raise RuntimeError("size limit was not resolved")
        return counter, limit

    def _build_counter(self) -> tuple[TokenCounter, int]:
        if self.size_unit is SizeUnit.CHARACTERS:
            return CharacterCounter(), int(self.chunk_size or 0)
        if self.size_unit is SizeUnit.TIKTOKEN:
            return TiktokenCounter(self.tiktoken_encoding), int(self.chunk_size or 0)
        model = self.embed_model
        if model is None and self.tokenizer is None:
            model = self._model_for_tokens()
        tokenizer = (
            self.tokenizer if self.tokenizer is not None else getattr(model, "tokenizer", None)
        )
        if tokenizer is None:
            raise ValueError(
                f"size_unit='tokens' needs a tokenizer, but embed_model "
                f"{type(model).__name__} has no .tokenizer: pass tokenizer=<a Hugging Face "
                "tokenizer>, or size_unit='tiktoken' or 'characters' with a chunk_size"
            )
        counter = HuggingFaceTokenCounter(tokenizer)
        window = getattr(model, "max_seq_length", None)
        if window is None:
            window = getattr(tokenizer, "model_max_length", None)
            window = window if isinstance(window, int) and window < 1_000_000 else None
        limit = int(window) - counter.special_tokens if window else None
        size = self.chunk_size or limit
        if size is None:
            raise ValueError(
                "chunk_size is None and the tokenizer declares no maximum length; pass chunk_size"
            )
        if limit is not None and size > limit:
            logger.warning(
                "chunk_size=%d exceeds the model window (%d tokens besides special tokens); "
                "using %d so that no text is dropped when embedding",
                size,
                limit,
                limit,
            )
            size = limit
        return counter, size

    # --- preparing documents -------------------------------------------------------------

    def _prepare(self, nodes: Sequence[BaseNode], show_progress: bool) -> list[PreparedDoc]:
        counter, size = self._resolve()
        overhead_texts: list[str] = []
        docs: list[PreparedDoc] = []
        skipped = sanitized = 0
        for node in get_tqdm_iterable(nodes, show_progress, "Splitting sentences"):
            if not isinstance(node, BaseNode):
                raise TypeError(
                    f"documents must be LlamaIndex nodes or Documents, got {type(node).__name__}"
                )
            text, replaced = sanitize_text(node.get_content(metadata_mode=MetadataMode.NONE))
            sanitized += replaced
            sentences = split_sentences(text)
            if not sentences:
                skipped += 1
                continue
            overhead_texts.append(embedded_text(node, "", self.include_metadata))
            docs.append(PreparedDoc(node, text, size, sentences, [], not counter.additive))
        overheads = counter.count_many(overhead_texts)
        for doc, overhead, header in zip(docs, overheads, overhead_texts, strict=True):
            template = getattr(doc.source, "text_template", "{metadata_str}\n\n{content}")
            if header and not template.split("{content}")[0][-1:].isspace():
                doc.verify = True  # metadata glued to the content: tokens may merge
            doc.budget = size - overhead
            if doc.budget <= 0:
                raise ValueError(
                    f"The metadata embedded with document {doc.source.node_id!r} costs "
                    f"{overhead} {self.size_unit.value} but chunk_size is {size}: exclude "
                    "metadata keys from embedding (excluded_embed_metadata_keys) or raise "
                    "chunk_size"
                )
        if self._gaps_in_counts(counter):
            flat = [
                doc.text[doc.sentences[i - 1][1] if i else s : e]
                for doc in docs
                for i, (s, e) in enumerate(doc.sentences)
            ]
        else:
            flat = [doc.text[s:e] for doc in docs for s, e in doc.sentences]
        counts = counter.count_many(flat)
        at = 0
        for doc in docs:
            doc.counts = counts[at : at + len(doc.sentences)]
            at += len(doc.sentences)
        self._last_stats = ChunkingStats(
            documents=len(nodes), skipped_empty=skipped, sanitized_characters=sanitized
        )
        if sanitized:
            logger.warning("replaced %d NUL or lone surrogate characters by U+FFFD", sanitized)
        return docs

    def _gaps_in_counts(self, counter: TokenCounter) -> bool:
        # BPE tokens: whitespace before a word can cost a token, so count it with the word.
        return not counter.additive and self.size_unit is not SizeUnit.CHARACTERS

    def _atomize(self, doc: PreparedDoc, budget: int) -> Atoms:
        counter, _ = self._resolve()
        return atomize(
            doc.text, doc.sentences, doc.counts, budget, counter, self._gaps_in_counts(counter)
        )

    def _gaps(self, atoms: Atoms) -> list[int] | None:
        if self.size_unit is not SizeUnit.CHARACTERS:
            return None
        return [0] + [atoms.starts[i] - atoms.ends[i - 1] for i in range(1, len(atoms))]

    def _pack(
        self, doc: PreparedDoc, atoms: Atoms, budget: int, overlap: int
    ) -> list[tuple[int, int]]:
        """Pack atoms into chunk spans (character offsets) of at most ``budget``."""
        ranges = pack_atoms(atoms, budget, overlap, self._gaps(atoms))
        return [(atoms.starts[a], atoms.ends[b]) for a, b in ranges]

    def _over_budget(self, doc: PreparedDoc, spans: list[Span], must_check: list[bool]) -> int:
        """The largest excess over ``chunk_size`` among recounted chunks, or 0."""
        counter, size = self._resolve()
        picked = [
            embedded_text(doc.source, doc.text[s:e], self.include_metadata)
            for (s, e), check in zip(spans, must_check, strict=True)
            if check
        ]
        if not picked:
            return 0
        return max(0, max(counter.count_many(picked)) - size)

    def _fit(
        self, doc: PreparedDoc, pieces: list[Span], counts: list[int], overlap: int
    ) -> list[Span]:
        """Chunk spans for a run of sentences, repaired until none exceeds the budget."""
        budget = doc.budget
        sub = PreparedDoc(doc.source, doc.text, budget, pieces, counts, doc.verify)
        for _ in range(_MAX_REPAIRS):
            atoms = self._atomize(sub, budget)
            spans = self._pack(doc, atoms, budget, min(overlap, budget - 1))
            if doc.verify:
                checks = [True] * len(spans)
            else:
                mid_word = {atoms.ends[i] for i, st in enumerate(atoms.strengths) if st == MID_WORD}
                checks = [any(s < m <= e for m in mid_word) for s, e in spans] if mid_word else []
                checks = checks or [False] * len(spans)
            excess = self._over_budget(doc, spans, checks)
            if excess == 0:
                return spans
            budget = max(1, budget - max(excess, budget // 20))
        raise ValueError(  # pragma: no cover - the budget shrinks to one unit first
            f"could not fit document {doc.source.node_id!r} into chunk_size"
        )

    # --- nodes -----------------------------------------------------------------------------

    def _build_nodes(self, doc: PreparedDoc, spans: list[Span]) -> list[TextNode]:
        source = doc.source
        source_info = source.source_node or _related_info(source)
        custom_ids = self.id_func is not default_id_func
        nodes: list[TextNode] = []
        for i, (start, end) in enumerate(spans):
            content = doc.text[start:end]
            node_id = (
                self.id_func(i, source)
                if custom_ids
                else node_id_for(source.node_id, start, end, content)
            )
            nodes.append(
                TextNode(
                    id_=node_id,
                    text=content,
                    start_char_idx=start,
                    end_char_idx=end,
                    metadata=dict(source.metadata) if self.include_metadata else {},
                    excluded_embed_metadata_keys=list(source.excluded_embed_metadata_keys),
                    excluded_llm_metadata_keys=list(source.excluded_llm_metadata_keys),
                    metadata_separator=source.metadata_separator,
                    metadata_template=source.metadata_template,
                    text_template=getattr(source, "text_template", "{metadata_str}\n\n{content}"),
                    relationships={NodeRelationship.SOURCE: source_info},
                )
            )
        if self.include_prev_next_rel:
            for prev, nxt in zip(nodes, nodes[1:], strict=False):
                prev.relationships[NodeRelationship.NEXT] = nxt.as_related_node_info()
                nxt.relationships[NodeRelationship.PREVIOUS] = prev.as_related_node_info()
        return nodes

    def _finish(self, docs: list[PreparedDoc], spans: list[list[Span]]) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc, doc_spans in zip(docs, spans, strict=True):
            out.extend(self._build_nodes(doc, doc_spans))
        stats = self._last_stats
        self._last_stats = ChunkingStats(
            stats.documents, stats.skipped_empty, len(out), stats.sanitized_characters
        )
        return out

    def _postprocess_parsed_nodes(
        self, nodes: list[BaseNode], parent_doc_map: dict[str, Document]
    ) -> list[BaseNode]:
        # LlamaIndex re-derives offsets here with text.find, which picks the wrong copy of a
        # repeated passage, and re-links neighbours; our nodes already carry exact offsets,
        # metadata and relationships.
        return nodes
