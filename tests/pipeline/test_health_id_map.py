"""Readiness reports a damaged id map (issue 14): a point whose payload holds another node than
its id makes `RagPipeline.health` not ready, with the reason, on Qdrant Edge and local mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document
from qdrant_client import QdrantClient, models

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.health import check_id_map, check_switch
from ragdrop.vector_stores import embedded_client
from ragdrop.vector_stores.points import PointIdentityError

pytestmark = pytest.mark.integration


def _failed(report: dict[str, Any]) -> dict[str, str]:
    return {name: c["detail"] for name, c in report["checks"].items() if not c["ok"]}


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_a_damaged_id_map_is_not_ready_with_the_reason(
    tmp_path: Path, engine: str, fixture_documents: list[Document]
) -> None:
    config = PipelineConfig(
        data_dir=tmp_path / "data", collection="ids", rerank=False, qdrant_engine=engine
    )
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        report = pipeline.health().to_dict()
        assert report["status"] == "ok", _failed(report)
        assert "each holding the node of its id" in report["checks"]["id_map"]["detail"]
        assert report["checks"]["switch"]["detail"] == "no switch pending"
    # The damage is on disk, made while no pipeline has the index open.
    client = embedded_client(config.qdrant_path, config.qdrant_engine)
    try:
        records, _ = client.scroll("ids", limit=2, with_payload=True)
        # What a reordered id tracker does: one point now carries another point's node.
        client.overwrite_payload("ids", payload=records[1].payload, points=[records[0].id])
        with pytest.raises(PointIdentityError, match=str(records[0].id)):
            check_id_map(client, "ids")
    finally:
        client.close()
    with RagPipeline(config) as pipeline:
        problems = _failed(pipeline.health().to_dict())
    assert set(problems) == {"id_map"}, problems
    assert "1 of" in problems["id_map"] and "id map is damaged" in problems["id_map"]


def test_check_switch_names_an_interrupted_first_switch(tmp_path: Path) -> None:
    config = PipelineConfig(data_dir=tmp_path, collection="c")
    client = QdrantClient(":memory:")
    assert check_switch(client, config) == "no switch pending"
    client.create_collection(
        "c-restore-0123456789ab", vectors_config=models.VectorParams(size=2, distance="Cosine")
    )
    pending = models.CreateAlias(
        collection_name="c-restore-0123456789ab", alias_name="c-switch-pending"
    )
    client.update_collection_aliases(
        change_aliases_operations=[models.CreateAliasOperation(create_alias=pending)]
    )
    with pytest.raises(RuntimeError, match="interrupted"):
        check_switch(client, config)
