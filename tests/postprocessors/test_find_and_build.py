"""Finding a cross-encoder offline and wiring the reranker into the pipeline's builders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest

from ragdrop.embeddings import ModelNotAvailableError
from ragdrop.pipeline.components import build_postprocessors
from ragdrop.pipeline.config import PipelineConfig
from ragdrop.postprocessors import CrossEncoderReranker, find_cross_encoder

pytestmark = pytest.mark.integration


@pytest.fixture()
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache with nothing in it, and no RAGDROP_RERANK_MODEL."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("RAGDROP_RERANK_MODEL", raising=False)
    return cache


def _install_in_hub_cache(cache: Path, repo_id: str, model_dir: Path) -> Path:
    """Lay ``model_dir`` out as the hub cache does after a download of ``repo_id``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    return snapshot


def test_nothing_found_means_none_and_the_builder_says_how_to_enable(
    empty_hub_cache: Path, tmp_path: Path
) -> None:
    assert find_cross_encoder(None) is None
    postprocessors, status = build_postprocessors(PipelineConfig(data_dir=tmp_path))
    assert postprocessors == []
    assert "skipped" in status
    assert "--rerank-model /path/to/cross-encoder" in status
    assert "RAGDROP_RERANK_MODEL" in status


def test_default_model_in_the_hub_cache_is_found(
    empty_hub_cache: Path, tiny_cross_encoder_path: Path
) -> None:
    snapshot = _install_in_hub_cache(
        empty_hub_cache, "cross-encoder/ms-marco-MiniLM-L-6-v2", tiny_cross_encoder_path
    )
    assert Path(find_cross_encoder(None) or "") == snapshot


def test_configured_path_and_environment_variable(
    empty_hub_cache: Path, tiny_cross_encoder_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_cross_encoder(str(tiny_cross_encoder_path)) == str(tiny_cross_encoder_path)
    monkeypatch.setenv("RAGDROP_RERANK_MODEL", str(tiny_cross_encoder_path))
    assert find_cross_encoder(None) == str(tiny_cross_encoder_path)
    with pytest.raises(ModelNotAvailableError, match="--rerank-model"):
        find_cross_encoder("/no/such/cross-encoder")


def test_builder_returns_a_reranker_with_the_pipeline_settings(
    empty_hub_cache: Path, tiny_cross_encoder_path: Path, tmp_path: Path
) -> None:
    config = PipelineConfig(data_dir=tmp_path, rerank_model=str(tiny_cross_encoder_path), top_k=3)
    postprocessors, status = build_postprocessors(config)
    assert status.startswith("reranking: on") and str(tiny_cross_encoder_path) in status
    (reranker,) = postprocessors
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.top_n is None  # each question slices to its own top_k
    assert reranker.cache_dir == str(config.cache_dir)
    assert not reranker.model_loaded  # building the pipeline loads nothing
    assert reranker.backend == "auto"
    assert reranker.onnx_dir == os.environ["RAGDROP_ONNX_DIR"]  # tests share one export folder
    torch = build_postprocessors(config.model_copy(update={"rerank_backend": "torch"}))[0]
    assert isinstance(torch[0], CrossEncoderReranker) and torch[0].backend == "torch"
    no_cache = build_postprocessors(config.model_copy(update={"cache": False}))[0]
    assert isinstance(no_cache[0], CrossEncoderReranker) and no_cache[0].cache_dir is None
    off, status = build_postprocessors(config.model_copy(update={"rerank": False}))
    assert off == [] and "off" in status
