"""The end-to-end pipeline behind the demo, the CLI and the server.

Names are imported on first use (`ragdrop.core.lazy`): the CLI reads `PipelineConfig`'s
settings for ``--help`` without loading the pipeline's engines.
"""

from typing import TYPE_CHECKING

from ragdrop.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ragdrop.pipeline.config import PipelineConfig
    from ragdrop.pipeline.documents import (
        DocumentLoadError,
        load_directory,
        load_pydoc_topics,
    )
    from ragdrop.pipeline.manifest import IngestManifest, ManifestError, document_hash
    from ragdrop.pipeline.rag import RagPipeline
    from ragdrop.pipeline.results import IngestReport, RagAnswer, Source

_EXPORTS: dict[str, str] = {
    "DocumentLoadError": "ragdrop.pipeline.documents",
    "IngestManifest": "ragdrop.pipeline.manifest",
    "IngestReport": "ragdrop.pipeline.results",
    "ManifestError": "ragdrop.pipeline.manifest",
    "PipelineConfig": "ragdrop.pipeline.config",
    "RagAnswer": "ragdrop.pipeline.results",
    "RagPipeline": "ragdrop.pipeline.rag",
    "Source": "ragdrop.pipeline.results",
    "document_hash": "ragdrop.pipeline.manifest",
    "load_directory": "ragdrop.pipeline.documents",
    "load_pydoc_topics": "ragdrop.pipeline.documents",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
