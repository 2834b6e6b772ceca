"""Node parsers that never overflow the embedding model: fixed-size and semantic chunking."""

from ragdrop.node_parsers.base import ChunkingStats
from ragdrop.node_parsers.breakpoints import BreakpointRule
from ragdrop.node_parsers.fixed_size import FixedSizeNodeParser
from ragdrop.node_parsers.semantic import SemanticNodeParser
from ragdrop.node_parsers.token_counter import SizeUnit

__all__ = [
    "BreakpointRule",
    "ChunkingStats",
    "FixedSizeNodeParser",
    "SemanticNodeParser",
    "SizeUnit",
]
