"""A question's top_k is honoured through POST /query, reranked, up to --max-top-k."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import serve_in_thread

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.server.app import create_app

pytestmark = pytest.mark.integration

MAX_TOP_K = 4


@pytest.fixture(scope="module")
def url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_cross_encoder_path: Path,
    fixture_documents: list[Any],
) -> Iterator[str]:
    config = PipelineConfig(
        data_dir=tmp_path_factory.mktemp("server-top-k"),
        collection="topk",
        rerank_model=str(tiny_cross_encoder_path),
        top_k=2,
        fused_candidates=3,
    )
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        with serve_in_thread(create_app(pipeline, max_top_k=MAX_TOP_K)) as base:
            yield base


def test_top_k_above_the_config_gets_that_many_reranked_sources(url: str) -> None:
    default = httpx.post(f"{url}/query", json={"question": "What is BM25?"}, timeout=120)
    assert default.status_code == 200, default.text
    assert len(default.json()["sources"]) == 2  # config.top_k

    response = httpx.post(
        f"{url}/query", json={"question": "What is BM25?", "top_k": MAX_TOP_K}, timeout=120
    )
    assert response.status_code == 200, response.text
    sources = response.json()["sources"]
    assert len(sources) == MAX_TOP_K
    scores = [source["scores"]["rerank"]["score"] for source in sources]
    assert scores == sorted(scores, reverse=True)


def test_top_k_above_max_top_k_is_refused(url: str) -> None:
    response = httpx.post(
        f"{url}/query", json={"question": "What is BM25?", "top_k": MAX_TOP_K + 1}, timeout=60
    )
    assert response.status_code == 422
    assert f"1 to {MAX_TOP_K}" in response.json()["detail"]
