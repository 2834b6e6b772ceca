"""Statuses that tell the truth (issue 14), against a real uvicorn on 127.0.0.1: readiness 503
with the reason while a component is degraded and 200 once repaired, 422 for bools where
integers belong, 404 for unknown jobs and documents, 413 for bodies over the limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import serve_in_thread

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.server.app import create_app

pytestmark = pytest.mark.integration

API_KEY = "statuses-key-3b9e71"  # noqa: S105 - a test token
MAX_BODY = 16 * 1024


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-statuses") / "data"


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[httpx.Client]:
    config = PipelineConfig(data_dir=data_dir, collection="statuses", rerank=False)
    with RagPipeline(config) as pipeline:
        app = create_app(pipeline, api_key=API_KEY, max_body_bytes=MAX_BODY)
        with serve_in_thread(app) as url:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
                yield c


def test_readiness_is_503_with_the_reason_while_degraded_and_200_once_repaired(
    client: httpx.Client, data_dir: Path
) -> None:
    healthy = client.get("/health/ready")
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["status"] == "ok" and "reason" not in healthy.json()

    data_dir.chmod(0o777)  # another user could now plant files in the index
    try:
        degraded = client.get("/health/ready")
        assert degraded.status_code == 503
        body = degraded.json()
        assert body["status"] == "fail"
        assert body["checks"]["data_dir"]["ok"] is False
        assert body["reason"].startswith("data_dir: ")
        assert f"chmod 700 {data_dir}" in body["reason"]
        assert client.get("/health/ready").status_code == 503, "stays 503 until repaired"
    finally:
        data_dir.chmod(0o700)

    repaired = client.get("/health/ready")
    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["status"] == "ok" and "reason" not in repaired.json()


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_top_k_is_refused_naming_the_field(client: httpx.Client, value: bool) -> None:
    response = client.post("/query", json={"question": "What is BM25?", "top_k": value})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [e for e in errors if "top_k" in e["loc"] and "bool" in e["msg"]], errors


def test_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get("/jobs/" + "c" * 32)
    assert response.status_code == 404
    assert "c" * 32 in response.json()["detail"]


def test_deleting_an_unknown_document_is_404(client: httpx.Client) -> None:
    response = client.delete("/documents/never-indexed")
    assert response.status_code == 404
    assert response.json() == {"detail": "no document 'never-indexed' in the index"}


def test_a_question_over_the_body_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/query", json={"question": "q" * (MAX_BODY + 1)})
    assert response.status_code == 413
    assert str(MAX_BODY) in response.json()["detail"]


@pytest.mark.parametrize("key", ["doc_id", "_node_content", "ref_doc_id"])
def test_reserved_metadata_keys_are_422_naming_the_key(client: httpx.Client, key: str) -> None:
    response = client.post(
        "/documents", json={"documents": [{"text": "hello", "metadata": {key: "x"}}]}
    )
    assert response.status_code == 422
    assert key in response.text and "reserved" in response.text
