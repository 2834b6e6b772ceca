"""What the metrics read from a pipeline: a small interface instead of its private attributes.

A `MetricsSource` (``RagPipeline`` is one) reports the sizes of its indexes as `IndexStats`
and tells write listeners about the points it writes; `RagdropMetrics.watch_pipeline` needs
nothing else.

Example:
    >>> class Source:
    ...     def index_stats(self): return IndexStats(bm25_documents=3, bm25_terms=12)
    ...     def add_write_listener(self, listener): ...
    >>> isinstance(Source(), MetricsSource), Source().index_stats().bm25_terms
    (True, 12)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ragdrop.core.protocols import WriteListener


@dataclass(frozen=True)
class IndexStats:
    """Sizes of a pipeline's indexes; None where the pipeline has no such index (yet)."""

    bm25_documents: int | None = None
    bm25_terms: int | None = None


@runtime_checkable
class MetricsSource(Protocol):
    """A pipeline as the metrics see it: index sizes, read at scrape time, and its writes."""

    def index_stats(self) -> IndexStats:
        """Current sizes; cheap, and never builds anything that is not built yet."""
        ...

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener(WriteEvent)`` after every write to the pipeline's vector store."""
        ...
