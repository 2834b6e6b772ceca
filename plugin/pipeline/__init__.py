"""The end-to-end pipeline behind the demo, the CLI and the server."""

from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.documents import DocumentLoadError, load_directory, load_pydoc_topics
from ragdrop.pipeline.manifest import IngestManifest, ManifestError, document_hash
from ragdrop.pipeline.rag import RagPipeline
from ragdrop.pipeline.results import IngestReport, RagAnswer, Source

__all__ = [
    "DocumentLoadError",
    "IngestManifest",
    "IngestReport",
    "ManifestError",
    "PipelineConfig",
    "RagAnswer",
    "RagPipeline",
    "Source",
    "document_hash",
    "load_directory",
    "load_pydoc_topics",
]
