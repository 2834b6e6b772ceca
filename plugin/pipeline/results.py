"""What a `RagPipeline` returns: answers with their sources, and ingestion reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.schema import MetadataMode, NodeWithScore

from ragdrop.core.provenance import SCORE_KEYS


@dataclass
class Source:
    """One passage behind an answer."""

    node_id: str
    ref_doc_id: str | None
    score: float
    text: str
    metadata: dict[str, Any]
    scores: dict[str, Any]

    @classmethod
    def from_node(cls, item: NodeWithScore) -> Source:
        """The passage of a retrieved node; its per-stage score records move to ``scores``."""
        node = item.node
        metadata = dict(node.metadata)
        final = float(item.score) if item.score is not None else None
        scores: dict[str, Any] = {"final": final}
        for key in SCORE_KEYS:
            if key in metadata:
                scores[key] = metadata.pop(key)
        return cls(
            node_id=node.node_id,
            ref_doc_id=node.ref_doc_id,
            score=final if final is not None else 0.0,
            text=node.get_content(metadata_mode=MetadataMode.NONE),
            metadata=metadata,
            scores=scores,
        )


@dataclass
class RagAnswer:
    """An answer, the passages it came from, and the seconds spent per stage."""

    question: str
    answer: str
    sources: list[Source]
    timings: dict[str, float]
    mode: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


@dataclass
class IngestReport:
    """What an ingestion changed."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped_empty: int = 0
    nodes_written: int = 0
    seconds: float = 0.0
    rebuilt: bool = False
    documents: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.added + self.updated + self.deleted
