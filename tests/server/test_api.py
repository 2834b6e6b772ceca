"""Every endpoint of a real uvicorn server, with the API key on and off, and bad requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import count_series, serve_in_thread, wait_for_job

from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.server.app import check_workers, create_app

pytestmark = pytest.mark.integration

API_KEY = "test-key-5f1d2c"  # noqa: S105 - a test token
MAX_BODY = 64 * 1024
MAX_TOP_K = 10


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RagPipeline]:
    data_dir = tmp_path_factory.mktemp("server-api")
    with RagPipeline(PipelineConfig(data_dir=data_dir, collection="api")) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def servers(pipeline: RagPipeline) -> Iterator[dict[str, str]]:
    """Two apps over one pipeline: one requires the API key, one is open."""
    secured = create_app(pipeline, api_key=API_KEY, max_body_bytes=MAX_BODY, max_top_k=MAX_TOP_K)
    open_app = create_app(pipeline, max_body_bytes=MAX_BODY, max_top_k=MAX_TOP_K)
    with serve_in_thread(secured) as secured_url, serve_in_thread(open_app) as open_url:
        yield {"secured": secured_url, "open": open_url}


@pytest.fixture(scope="module")
def client(servers: dict[str, str]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=servers["secured"], headers=headers, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def ingested(client: httpx.Client, server_corpus: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/documents", json={"documents": server_corpus})
    assert response.status_code == 202, response.text
    state = wait_for_job(client, response.json()["job_id"])
    assert state["status"] == "done", state
    return state


# -- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/query", {"question": "what is bm25?"}),
        ("POST", "/documents", {"documents": [{"text": "x"}]}),
        ("GET", "/jobs/" + "0" * 32, None),
        ("DELETE", "/documents/bm25", None),
        ("GET", "/health/ready", None),
        ("GET", "/metrics", None),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-key", API_KEY + "x"])
def test_every_endpoint_but_liveness_requires_the_key(
    servers: dict[str, str], method: str, path: str, body: Any, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(method, servers["secured"] + path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert API_KEY not in response.text


def test_liveness_needs_no_key(servers: dict[str, str]) -> None:
    response = httpx.get(servers["secured"] + "/health/live")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"process", "ingest_worker"}


def test_open_server_serves_without_a_key(servers: dict[str, str], ingested: Any) -> None:
    url = servers["open"]
    assert httpx.get(url + "/health/ready", timeout=60).status_code == 200
    assert httpx.get(url + "/metrics").status_code == 200
    response = httpx.post(url + "/query", json={"question": "What is BM25?"}, timeout=60)
    assert response.status_code == 200
    assert response.json()["sources"]


def test_secured_server_hides_the_openapi_schema(servers: dict[str, str]) -> None:
    assert httpx.get(servers["secured"] + "/openapi.json").status_code == 404
    assert httpx.get(servers["open"] + "/openapi.json").status_code == 200


# -- documents and jobs ----------------------------------------------------------------------


def test_ingestion_job_reports_what_it_did(
    ingested: dict[str, Any], server_corpus: list[Any], pipeline: RagPipeline
) -> None:
    assert ingested["processed"] == len(server_corpus)
    assert ingested["report"]["added"] == len(server_corpus)
    assert ingested["report"]["nodes_written"] >= len(server_corpus)
    assert set(pipeline.indexed_documents()) == {d["id"] for d in server_corpus}


def test_posting_the_same_documents_is_idempotent(
    client: httpx.Client, ingested: dict[str, Any], server_corpus: list[Any]
) -> None:
    response = client.post("/documents", json={"documents": server_corpus})
    assert response.status_code == 202
    assert response.json()["job_id"] == ingested["job_id"]
    state = wait_for_job(client, ingested["job_id"])
    assert state["status"] == "done"
    assert state["report"]["unchanged"] == len(server_corpus)
    assert state["report"]["added"] == 0 and state["report"]["nodes_written"] == 0


def test_documents_without_id_get_a_content_hash_id(client: httpx.Client, ingested: Any) -> None:
    text = "Sourdough uses a wild yeast starter instead of baker's yeast."
    first = client.post("/documents", json={"documents": [{"text": text}]}).json()
    second = client.post("/documents", json={"documents": [{"text": text}]}).json()
    assert first["job_id"] == second["job_id"]
    assert wait_for_job(client, first["job_id"])["status"] == "done"


def test_unknown_and_malformed_job_ids(client: httpx.Client) -> None:
    assert client.get("/jobs/" + "a" * 32).status_code == 404
    response = client.get("/jobs/../../etc/passwd")
    assert response.status_code in (404, 422)
    assert client.get("/jobs/NOT-HEX").status_code == 422


def test_delete_document_removes_it_from_answers(client: httpx.Client, ingested: Any) -> None:
    doc = {"id": "volcano", "text": "Volcanoes erupt molten lava from the mantle of the Earth."}
    job = client.post("/documents", json={"documents": [doc]}).json()
    assert wait_for_job(client, job["job_id"])["status"] == "done"
    question = {"question": "Why do volcanoes erupt lava?", "top_k": 3}
    before = client.post("/query", json=question).json()
    assert "volcano" in [s["ref_doc_id"] for s in before["sources"]]

    response = client.delete("/documents/volcano")
    assert response.status_code == 200
    assert response.json() == {"deleted": "volcano", "found": True}
    again = client.delete("/documents/volcano")
    assert again.status_code == 404 and "volcano" in again.json()["detail"]
    after = client.post("/query", json=question).json()
    assert "volcano" not in [s["ref_doc_id"] for s in after["sources"]]


# -- questions -------------------------------------------------------------------------------


def test_query_returns_answer_sources_scores_and_timings(
    client: httpx.Client, ingested: Any
) -> None:
    response = client.post("/query", json={"question": "What does BM25 score?", "top_k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"]
    assert len(body["sources"]) == 2
    assert body["sources"][0]["ref_doc_id"] == "bm25"
    for source in body["sources"]:
        assert {"node_id", "ref_doc_id", "score", "text", "metadata", "scores"} <= set(source)
    assert body["timings"]["total"] > 0


def test_query_filters_restrict_sources(client: httpx.Client, ingested: Any) -> None:
    filters = {"filters": [{"key": "topic", "value": "cooking", "operator": "=="}]}
    body = client.post(
        "/query", json={"question": "What does BM25 score?", "filters": filters}
    ).json()
    assert body["sources"]
    assert {s["ref_doc_id"] for s in body["sources"]} == {"cooking"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "x" * 2001}, "question"),
        ({"question": 42}, "question"),
        ({"question": "q", "top_k": 0}, "top_k"),
        ({"question": "q", "top_k": "many"}, "top_k"),
        ({"question": "q", "unexpected": 1}, "unexpected"),
        ({"question": "q", "filters": {"filters": []}}, "filters"),
        (
            {"question": "q", "filters": {"filters": [{"key": "a", "value": 1, "operator": "~"}]}},
            "operator",
        ),
    ],
)
def test_invalid_questions_get_clear_422(client: httpx.Client, body: Any, field: str) -> None:
    response = client.post("/query", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(field in [str(part) for part in error["loc"]] for error in detail), detail


def test_top_k_is_bounded(client: httpx.Client) -> None:
    response = client.post("/query", json={"question": "q", "top_k": MAX_TOP_K + 1})
    assert response.status_code == 422
    assert f"1 to {MAX_TOP_K}" in response.json()["detail"]


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/query", content=b'{"question": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"documents": []},
        {"documents": [{"text": ""}]},
        {"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]},
        {"documents": [{"text": "same"}, {"text": "same"}]},
        {"documents": [{"id": "bad id with spaces", "text": "x"}]},
        {"documents": [{"text": "x", "metadata": {"nested": {"no": 1}}}]},
        {"documents": "not a list"},
        [1, 2, 3],
    ],
)
def test_invalid_documents_get_422(client: httpx.Client, body: Any) -> None:
    assert client.post("/documents", json=body).status_code == 422


def test_validation_errors_do_not_echo_the_input(client: httpx.Client) -> None:
    secret = "CONFIDENTIAL-PAYROLL-7731"
    body = {"documents": [{"text": secret, "metadata": {"k": {"secret": secret}}}]}
    response = client.post("/documents", json=body)
    assert response.status_code == 422
    assert secret not in response.text


def test_body_size_is_bounded(client: httpx.Client) -> None:
    big = {"documents": [{"text": "word " * (MAX_BODY // 4)}]}
    response = client.post("/documents", json=big)
    assert response.status_code == 413
    assert str(MAX_BODY) in response.json()["detail"]


def test_body_size_is_bounded_without_content_length(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"documents": [{"text": "'
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"a" * 1024
        yield b'"}]}'

    response = client.post(
        "/documents", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


# -- health, metrics, logs -------------------------------------------------------------------


def test_readiness_reports_every_component(client: httpx.Client, ingested: Any) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {"qdrant", "models", "collection", "data_dir"} <= set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())
    assert "384" in body["checks"]["collection"]["detail"]


def test_metrics_use_route_templates(client: httpx.Client, ingested: Any) -> None:
    client.get("/jobs/" + "b" * 32)
    client.post("/query", json={"question": "How do I bake bread?"})
    text = client.get("/metrics").text
    assert 'ragdrop_stage_seconds_count{stage="retrieve"}' in text
    assert 'endpoint="/jobs/{job_id}"' in text
    assert "b" * 32 not in text
    assert "bake bread" not in text
    assert 'ragdrop_ingest_jobs_total{state="done"}' in text
    assert count_series(text) > 0
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["ragdrop_points_upserted_total"] >= 5
    assert samples["ragdrop_points_deleted_total"] >= 1  # the volcano test ran before
    assert samples["ragdrop_bm25_documents"] >= 5
    assert samples["ragdrop_bm25_terms"] > 20


def test_logs_hold_no_secrets_or_document_text(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "Zebras-have-TOP-SECRET-stripes-9931"
    # INFO everywhere (LlamaIndex itself prints retrieved text at DEBUG), DEBUG for our loggers.
    with (
        caplog.at_level(logging.INFO),
        caplog.at_level(logging.DEBUG, logger="ragdrop"),
        caplog.at_level(logging.DEBUG, logger="uvicorn"),
    ):
        job = client.post("/documents", json={"documents": [{"text": secret_text}]}).json()
        wait_for_job(client, job["job_id"])
        client.post("/query", json={"question": secret_text})
        httpx.get(client.base_url.join("/metrics"), headers={"Authorization": "Bearer nope"})
    assert caplog.records, "the server logged nothing; the check would be vacuous"
    assert secret_text not in caplog.text
    assert API_KEY not in caplog.text


# -- workers ---------------------------------------------------------------------------------


def test_several_workers_are_refused_with_local_qdrant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="locks its folder to one process"):
        check_workers(PipelineConfig(data_dir=tmp_path), 2)
    check_workers(PipelineConfig(data_dir=tmp_path), 1)
    check_workers(PipelineConfig(data_dir=tmp_path, qdrant_url="http://qdrant:6333"), 4)


def test_create_app_validates_its_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="pipeline_or_config"):
        create_app("not a pipeline")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="api_key"):
        create_app(PipelineConfig(data_dir=tmp_path), api_key=" ")
    with pytest.raises(ValueError, match="max_top_k"):
        create_app(PipelineConfig(data_dir=tmp_path), max_top_k=0)
