"""The pipeline refuses reserved metadata keys before it changes anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core import Document

from ragdrop.pipeline import PipelineConfig, RagPipeline

pytestmark = pytest.mark.integration


def test_ingest_refuses_a_reserved_key_and_keeps_the_old_version(
    tmp_path: Path, fixture_documents: list[Document]
) -> None:
    config = PipelineConfig(data_dir=tmp_path / "data", collection="r", rerank=False)
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        before = pipeline.indexed_documents()
        changed = Document(
            id_="qdrant",
            text="Qdrant now stores everything on the moon.",
            metadata={"doc_id": "mine"},
        )
        with pytest.raises(ValueError, match="document 'qdrant': metadata key 'doc_id'"):
            pipeline.ingest([*fixture_documents[1:], changed])
        assert pipeline.indexed_documents() == before
        answer = pipeline.query("Which language is Qdrant written in?", top_k=1)
        assert answer.sources[0].ref_doc_id == "qdrant"
        assert "Rust" in answer.sources[0].text
