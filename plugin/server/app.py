"""The ragdrop HTTP API: questions, background ingestion, deletion, health and metrics."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from llama_index.core import Document
from llama_index.core.llms import LLM
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from ragdrop.observability.health import HealthMonitor
from ragdrop.observability.metrics import RagdropMetrics
from ragdrop.pipeline.chat import ChatEngine
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.pipeline.conversations import ConversationStore, SqliteConversationStore
from ragdrop.pipeline.rag import RagPipeline
from ragdrop.pipeline.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_TOP_K,
    api_key_error,
    api_key_problem,
    config_from_sources,
    is_loopback,
    server_settings_from_sources,
)
from ragdrop.server.chat import add_chat_routes, llm_from_env
from ragdrop.server.concurrency import ReadWriteLock
from ragdrop.server.jobs import JOB_ID, IngestWorker, JobJournal, document_id_for
from ragdrop.server.schemas import DocumentsRequest, JobOut, QueryRequest

logger = logging.getLogger(__name__)

# Documents per write-locked ingest call: questions wait for at most one such batch.
WORKER_BATCH_LIMIT = 16
READY_WAIT_SECONDS = 2.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LimitsAndMetricsMiddleware:
    """Refuse bodies over ``max_body_bytes`` (413) and time every request by route template.

    The body is read here, before the app, because FastAPI turns any error raised while it
    reads the body into a generic 400; chunked bodies without a Content-Length are counted too.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, metrics: RagdropMetrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        """The request's body messages, or None when they exceed the limit."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length", b"")
            too_large = declared.isdigit() and int(declared) > self.max_body_bytes
            messages = None if too_large else await self._read_body(receive)
            if messages is None:
                response = JSONResponse(
                    {"detail": f"request body exceeds the limit of {self.max_body_bytes} bytes"},
                    status_code=413,
                )
                await response(scope, receive, recording_send)
                return
            pending = list(messages)

            async def replay() -> Message:
                return pending.pop(0) if pending else await receive()

            await self.app(scope, replay, recording_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                endpoint, scope.get("method", ""), status["code"], time.perf_counter() - start
            )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo "input": it can hold document text or a token.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def _arrived_on_loopback(scope: Scope) -> bool:
    """The request reached a loopback address of this machine (or a Unix socket)."""
    server = scope.get("server")
    if server is None or server[1] is None:
        return True  # a Unix socket (ASGI: no server address): its file mode guards it
    return is_loopback(str(server[0]))


def _digest(token: str) -> bytes:
    # Equal-length digests: compare_digest then hides the key's length too.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def check_workers(config: PipelineConfig, workers: int) -> None:
    """Refuse several worker processes on an on-disk local Qdrant, saying why."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if workers > 1 and not config.qdrant_url:
        raise ValueError(
            f"workers={workers} needs a Qdrant server: the embedded Qdrant at "
            f"{config.qdrant_path} locks its folder to one process, so a second worker could "
            "not open it. Run with --workers 1, or start Qdrant (docker run -p 6333:6333 "
            "qdrant/qdrant) and pass --qdrant-url http://localhost:6333."
        )


def create_app(
    pipeline_or_config: RagPipeline | PipelineConfig,
    api_key: str | None = None,
    *,
    insecure_no_auth: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_top_k: int = DEFAULT_MAX_TOP_K,
    metrics: RagdropMetrics | None = None,
    health_retry_seconds: float | None = None,
    conversations: ConversationStore | None = None,
    llm: LLM | None = None,
) -> FastAPI:
    """A FastAPI app serving ``pipeline_or_config``.

    Args:
        pipeline_or_config: a `RagPipeline` (the app does not close it) or a `PipelineConfig`
            (the app builds the pipeline and closes it on shutdown).
        api_key: when set, every endpoint except ``/health/live`` requires
            ``Authorization: Bearer <api_key>``; blank or placeholder keys are refused.
            When None, requests that reach the server on an address other than loopback
            get 403, however the server was bound (``uvicorn --host 0.0.0.0`` included).
        insecure_no_auth: without an API key, answer requests on every address.
        max_body_bytes: larger request bodies are refused with 413.
        max_top_k: the largest ``top_k`` a question may ask for (answers are reranked to
            that depth when a question asks for it).
        metrics: where to record metrics; default a fresh registry served at ``/metrics``.
        health_retry_seconds: after a failed model load, readiness retries at most this often
            (default 60); only for a pipeline built here: a `RagPipeline` has its own.
        conversations: where ``/chat`` keeps conversations; default SQLite in
            ``data_dir/conversations`` (`SqliteConversationStore`).
        llm: a LlamaIndex LLM for ``/chat`` answers; None = extractive answers.

    Readiness (``/health/ready``) is `RagPipeline.health`, the same checks as ``ragdrop
    health``; serve the app with uvicorn (``ragdrop serve`` does).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> app = create_app(PipelineConfig(data_dir=Path(tempfile.mkdtemp())), api_key="s3cret")
        >>> sorted(route.path for route in app.routes if route.path.startswith("/health"))
        ['/health/live', '/health/ready']
    """
    if isinstance(pipeline_or_config, PipelineConfig):
        retry = 60.0 if health_retry_seconds is None else health_retry_seconds
        pipeline = RagPipeline(pipeline_or_config, health_retry_seconds=retry)
        owned = True
    elif isinstance(pipeline_or_config, RagPipeline):
        if health_retry_seconds is not None:
            raise TypeError(
                "health_retry_seconds applies to a pipeline create_app builds; pass "
                "RagPipeline(config, health_retry_seconds=...) instead"
            )
        pipeline, owned = pipeline_or_config, False
    else:
        raise TypeError(
            "pipeline_or_config must be a RagPipeline or a PipelineConfig, got "
            f"{type(pipeline_or_config).__name__}"
        )
    if api_key is not None:
        problem = api_key_problem(api_key)
        if problem:
            raise ValueError(api_key_error("api_key", problem))
    if max_body_bytes < 1024:
        raise ValueError(f"max_body_bytes must be >= 1024, got {max_body_bytes!r}")
    if not 1 <= max_top_k <= 1000:
        raise ValueError(f"max_top_k must be from 1 to 1000, got {max_top_k!r}")
    if metrics is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        metrics = RagdropMetrics(registry=registry)

    config = pipeline.config
    lock = ReadWriteLock()
    journal = JobJournal(config.data_dir / "jobs")
    metrics.watch_pipeline(pipeline)

    def ingest_batch(batch: list[dict[str, Any]]) -> dict[str, Any]:
        documents = [Document(id_=d["id"], text=d["text"], metadata=d["metadata"]) for d in batch]
        with lock.write():
            report = pipeline.ingest(documents)
        return {k: v for k, v in asdict(report).items() if k != "documents"}

    worker = IngestWorker(
        journal,
        ingest_batch,
        batch_size=min(config.ingest_batch_size, WORKER_BATCH_LIMIT),
        on_finish=lambda state: metrics.jobs.labels(state=state).inc(),
    )
    # Liveness is the server's own (this process, its ingestion thread); readiness is the
    # pipeline's, shared with `ragdrop health`.
    liveness = HealthMonitor(
        liveness={"process": lambda: "alive", "ingest_worker": lambda: _worker_alive(worker)}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.attach()
        worker.start()
        try:
            yield
        finally:
            worker.stop(timeout=30)
            metrics.detach()
            if owned:
                pipeline.close()

    bearer = HTTPBearer(auto_error=False)

    def require_key(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> None:
        if api_key is None:
            if insecure_no_auth or _arrived_on_loopback(request.scope):
                return
            raise HTTPException(
                status_code=403,
                detail="this server has no API key, so it answers on 127.0.0.1 only: set "
                "RAGDROP_API_KEY (or --api-key), or start it with --insecure-no-auth",
            )
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(_digest(given), _digest(api_key)):
            raise HTTPException(
                status_code=401,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    app = FastAPI(
        title="ragdrop",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None if api_key else "/docs",
        redoc_url=None,
        openapi_url=None if api_key else "/openapi.json",
    )
    app.state.pipeline = pipeline
    app.state.metrics = metrics
    app.state.journal = journal
    app.state.worker = worker
    app.state.liveness = liveness
    app.add_middleware(LimitsAndMetricsMiddleware, max_body_bytes=max_body_bytes, metrics=metrics)
    protected = [Depends(require_key)]
    if conversations is None:
        conversations = SqliteConversationStore(config.data_dir / "conversations")
    chat = ChatEngine(pipeline, conversations, llm=llm, retrieval_guard=lock.read)
    add_chat_routes(app, chat, dependencies=protected, max_top_k=max_top_k, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return JSONResponse({"detail": "request body is not valid JSON"}, status_code=400)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.post("/query", dependencies=protected)
    def query(body: QueryRequest) -> dict[str, Any]:
        if body.top_k is not None and body.top_k > max_top_k:
            raise HTTPException(
                422, detail=f"top_k must be from 1 to {max_top_k}, got {body.top_k}"
            )
        filters = body.filters.to_llama_index() if body.filters else None
        try:
            with lock.read():
                answer = pipeline.query(body.question, top_k=body.top_k, filters=filters)
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        except Exception as exc:
            metrics.record_error("server", exc)
            logger.warning("query failed: %s", type(exc).__name__)
            raise HTTPException(500, detail=f"query failed: {type(exc).__name__}") from None
        return answer.to_dict()

    @app.post("/documents", status_code=202, dependencies=protected)
    def add_documents(body: DocumentsRequest) -> dict[str, Any]:
        documents = [
            {"id": d.id or document_id_for(d.text), "text": d.text, "metadata": d.metadata}
            for d in body.documents
        ]
        ids = [str(d["id"]) for d in documents]
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise HTTPException(
                422, detail=f"documents without an id have the same text (ids {repeated})"
            )
        state, queued = journal.submit(documents)
        if queued:
            worker.enqueue(state["job_id"])
        logger.info("ingestion job %s: %d documents (new=%s)", state["job_id"], len(ids), queued)
        return {**JobOut(**state).model_dump(), "queued": queued}

    @app.get("/jobs/{job_id}", dependencies=protected)
    def get_job(job_id: str) -> JobOut:
        if not JOB_ID.match(job_id):
            raise HTTPException(422, detail="job_id must be 32 lowercase hex characters")
        state = journal.get(job_id)
        if state is None:
            raise HTTPException(404, detail=f"no job {job_id}")
        return JobOut(**state)

    @app.delete("/documents/{ref_doc_id:path}", dependencies=protected)
    def delete_document(ref_doc_id: str) -> dict[str, Any]:
        if not ref_doc_id or len(ref_doc_id) > 256:
            raise HTTPException(422, detail="ref_doc_id must have 1 to 256 characters")
        with lock.write():
            # Deleted even when not recorded: a killed ingestion can leave unrecorded points.
            found = ref_doc_id in pipeline.indexed_documents()
            pipeline.delete_document(ref_doc_id)
        if not found:
            raise HTTPException(404, detail=f"no document {ref_doc_id!r} in the index")
        return {"deleted": ref_doc_id, "found": True}

    @app.get("/health/live")
    def live() -> JSONResponse:
        report = liveness.live()
        return JSONResponse(report.to_dict(), status_code=200 if report.ok else 503)

    last_ready: dict[str, Any] = {}

    @app.get("/health/ready", dependencies=protected)
    def ready() -> JSONResponse:
        try:
            with lock.read(timeout=READY_WAIT_SECONDS):
                report = pipeline.health()
        except TimeoutError:
            # An ingestion batch holds the index; probes must not time out meanwhile.
            if not last_ready:
                reason = "ingestion in progress; the index has not been checked yet"
                body = {"status": "fail", "checks": {}, "reason": reason}
                return JSONResponse(body, status_code=503)
            body = {**last_ready["body"], "busy": "ingestion in progress; last probe's checks"}
            return JSONResponse(body, status_code=last_ready["status"])
        body = report.to_dict()
        failed = [f"{r.name}: {r.detail}" for r in report.checks if not r.ok]
        if failed:
            body["reason"] = "; ".join(failed)
        last_ready.update(body=body, status=503 if failed else 200)
        return JSONResponse(body, status_code=last_ready["status"])

    @app.get("/metrics", dependencies=protected)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _worker_alive(worker: IngestWorker) -> str:
    if not worker.alive:
        raise RuntimeError("the ingestion thread is not running")
    return "running"


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` and multi-worker serving: settings from RAGDROP_*
    (and the TOML file ``RAGDROP_CONFIG`` names), as ``ragdrop serve`` reads them.

    Invalid settings (a blank or placeholder RAGDROP_API_KEY, a RAGDROP_HOST other than
    loopback without a key) print one line and exit with status 1, before anything is served.
    uvicorn's own ``--host`` is not visible here: without a key the app answers only
    requests that arrive on a loopback address unless RAGDROP_INSECURE_NO_AUTH is set.
    """
    env = dict(os.environ)
    try:
        config = config_from_sources(env=env)
        server = server_settings_from_sources(env=env)
        llm = llm_from_env(env)
    except ValueError as exc:
        print(f"ragdrop: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    if server["api_key"] is None:
        logger.warning(
            "no RAGDROP_API_KEY: serving without authentication%s",
            " to anyone (RAGDROP_INSECURE_NO_AUTH)"
            if server["insecure_no_auth"]
            else ", on loopback addresses only",
        )
    return create_app(
        config,
        api_key=server["api_key"],
        insecure_no_auth=server["insecure_no_auth"],
        max_body_bytes=server["max_body_bytes"],
        max_top_k=server["max_top_k"],
        llm=llm,
    )
