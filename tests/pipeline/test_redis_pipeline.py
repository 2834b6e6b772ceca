"""`PipelineConfig(cache_url=...)`: the pipeline's caches and epochs in a real Redis.

A real ``redis-server`` per test, Qdrant Edge in the data dir, the real MiniLM model, the
real CLI for the settings path and a second real process for a write made elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from llama_index.core import Document
from pydantic import ValidationError

from ragdrop.cache import RedisCache
from ragdrop.pipeline import PipelineConfig, RagPipeline
from ragdrop.pipeline.settings import config_from_sources, config_to_env
from ragdrop.vector_stores import CachedQdrantVectorStore
from ragdrop.vector_stores.calls import client_scope

pytestmark = pytest.mark.integration

QUESTION = "Which language is Qdrant written in?"


def redis_keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match="ragdrop:*"))
    finally:
        client.close()


def test_the_pipeline_caches_in_redis_and_a_write_elsewhere_invalidates(
    redis_server: Any, tmp_path: Path, fixture_documents: list[Document]
) -> None:
    config = PipelineConfig(
        data_dir=tmp_path / "rag", collection="t", rerank=False, cache_url=redis_server.url
    )
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        first = pipeline.query(QUESTION, top_k=2)
        second = pipeline.query(QUESTION, top_k=2)
        assert set(second.timings) == {"cache", "total"} and second.answer == first.answer
        keys = redis_keys(redis_server.url)
        assert any(b":queries:" in k for k in keys) and any(b":embeddings:" in k for k in keys)
        assert not (config.cache_dir / "queries").exists(), "nothing cached on disk"
        store = pipeline.components.vector_store
        assert isinstance(store, CachedQdrantVectorStore)
        assert store.query_cache is not None and isinstance(store.query_cache.cache, RedisCache)
        scope = store.cache_scope or client_scope(store.client)[0]
        script = (
            "import sys\nfrom ragdrop.cache import QueryResultCache, open_cache\n"
            "QueryResultCache(open_cache(sys.argv[1], namespace='queries')).bump(sys.argv[2], 't')\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, redis_server.url, scope], check=True, timeout=120
        )
        third = pipeline.query(QUESTION, top_k=2)
        assert "retrieve" in third.timings, "a write elsewhere must make it a miss"


def test_redis_down_still_answers(
    redis_server: Any, tmp_path: Path, fixture_documents: list[Document]
) -> None:
    config = PipelineConfig(
        data_dir=tmp_path / "rag", collection="t", rerank=False, cache_url=redis_server.url
    )
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        expected = [s.ref_doc_id for s in pipeline.query(QUESTION, top_k=2).sources]
        redis_server.kill()
        for _ in range(2):
            answer = pipeline.query(QUESTION, top_k=2)
            assert [s.ref_doc_id for s in answer.sources] == expected
            assert "retrieve" in answer.timings, "nothing can be served from a dead Redis"


def test_cache_url_from_flags_and_environment_keeps_its_password_hidden(tmp_path: Path) -> None:
    url = "redis://:hunter2-pw@127.0.0.1:6390/2"
    config = config_from_sources({"cache_url": url, "data_dir": str(tmp_path)}, env={})
    assert config.cache_url is not None and config.cache_url.get_secret_value() == url
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump(mode="json"))
    env = config_to_env(config)
    assert env["RAGDROP_CACHE_URL"] == url, "server workers must get the real URL"
    again = config_from_sources({}, env=env)
    assert again.cache_url is not None and again.cache_url.get_secret_value() == url


def test_a_bad_cache_url_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not a Redis URL"):
        PipelineConfig(data_dir=tmp_path, cache_url="http://:pw@host:1/0")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragdrop.cli.main",
            "ask",
            "what?",
            "--data-dir",
            str(tmp_path),
            "--cache-url",
            "memcached://:s3cret@host:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "cache_url" in done.stderr and "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr


def test_a_restore_never_leaves_the_old_answers_in_redis(
    redis_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ragdrop.cli.main import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text("Qdrant is a vector database written in Rust.")
    (docs / "bread.md").write_text("Knead the dough for ten minutes, then bake it hot.")
    # The vector retriever: its results come from the store's query cache, the one that
    # outlives a process (hybrid entries also key on this process's BM25 index).
    flags = ["--data-dir", str(tmp_path / "data"), "--cache-url", redis_server.url]
    flags += ["--no-rerank", "--retriever", "vector"]

    def ask() -> list[str]:
        capsys.readouterr()
        assert main(["ask", "What is zephyrine?", *flags, "--json"]) == 0
        return [s["text"] for s in json.loads(capsys.readouterr().out)["sources"]]

    assert main(["ingest", str(docs), *flags, "--no-progress"]) == 0
    assert main(["backup", str(tmp_path / "backup"), *flags]) == 0
    # The same number of points after the update: the point-count check cannot see it.
    (docs / "bread.md").write_text("Zephyrine is the marker word of the updated document.")
    assert main(["ingest", str(docs), *flags, "--no-progress"]) == 0
    assert "Zephyrine" in ask()[0]
    assert "Zephyrine" in ask()[0]  # now an answer cached in Redis
    assert main(["restore", str(tmp_path / "backup"), *flags]) == 0
    assert not any("Zephyrine" in text for text in ask()), "the backup has no marker"


def test_readiness_says_when_redis_is_down_and_recovers_by_itself(
    redis_server_factory: Any, tmp_path: Path, fixture_documents: list[Document]
) -> None:
    server = redis_server_factory(password="ready-pw")
    config = PipelineConfig(
        data_dir=tmp_path / "rag", collection="t", rerank=False, cache_url=server.url
    )
    with RagPipeline(config) as pipeline:
        pipeline.ingest(fixture_documents)
        ready = pipeline.health().to_dict()
        assert ready["checks"]["shared_cache"]["ok"], ready
        server.kill()
        down = pipeline.health().to_dict()
        detail = down["checks"]["shared_cache"]["detail"]
        assert down["status"] != "ok" and not down["checks"]["shared_cache"]["ok"]
        assert "does not answer" in detail and "ready-pw" not in str(down)
        assert pipeline.query(QUESTION, top_k=2).sources, "questions are still answered"
        server.start()
        time.sleep(1.2)  # the cache's retry interval after a failure
        again = pipeline.health().to_dict()
        assert again["checks"]["shared_cache"]["ok"], again
