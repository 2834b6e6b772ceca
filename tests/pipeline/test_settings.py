"""Settings precedence: flags > RAGDROP_* environment > TOML file > defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragdrop.pipeline import PipelineConfig
from ragdrop.pipeline.settings import (
    add_settings_arguments,
    config_from_sources,
    config_to_env,
    server_settings_from_sources,
)

pytestmark = pytest.mark.unit


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    add_settings_arguments(parser, section="server")
    return parser.parse_args(argv)


@pytest.fixture()
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "ragdrop.toml"
    path.write_text(
        'top_k = 7\ncollection = "from_toml"\nchunking = "semantic"\n'
        "[server]\nport = 9001\nworkers = 1\n"
    )
    return path


def test_defaults_without_any_source() -> None:
    assert config_from_sources(parse(), env={}) == PipelineConfig()
    server = server_settings_from_sources(parse(), env={})
    assert server["host"] == "127.0.0.1" and server["port"] == 8000 and server["api_key"] is None


def test_toml_overrides_defaults(toml_file: Path) -> None:
    config = config_from_sources(parse("--config", str(toml_file)), env={})
    assert (config.top_k, config.collection, config.chunking) == (7, "from_toml", "semantic")
    assert server_settings_from_sources(parse("--config", str(toml_file)), env={})["port"] == 9001


def test_environment_overrides_toml(toml_file: Path) -> None:
    env = {"RAGDROP_CONFIG": str(toml_file), "RAGDROP_TOP_K": "9", "RAGDROP_PORT": "9100"}
    config = config_from_sources(parse(), env=env)
    assert config.top_k == 9
    assert config.collection == "from_toml"
    assert server_settings_from_sources(parse(), env=env)["port"] == 9100


def test_flags_override_environment(toml_file: Path) -> None:
    env = {"RAGDROP_TOP_K": "9", "RAGDROP_RERANK": "true"}
    args = parse("--config", str(toml_file), "--top-k", "5", "--no-rerank", "--port", "1234")
    config = config_from_sources(args, env=env)
    assert config.top_k == 5  # the flag wins although 5 is also the default
    assert config.rerank is False
    assert server_settings_from_sources(args, env=env)["port"] == 1234


def test_pipeline_table_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[pipeline]\nretriever = "bm25"\ncache = false\n')
    config = config_from_sources({"config": path}, env={})
    assert config.retriever == "bm25" and config.cache is False


def test_empty_environment_value_means_none_for_optional_settings() -> None:
    env = {"RAGDROP_QDRANT_URL": "", "RAGDROP_CHUNK_SIZE": "none"}
    config = config_from_sources(env=env)
    assert config.qdrant_url is None and config.chunk_size is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("top_kk = 3\n", "unknown setting"),
        ("[servr]\nport = 1\n", "unknown table"),
        ("[server]\nprot = 1\n", r"unknown \[server\] setting"),
        ("top_k = \n", "not valid TOML"),
    ],
)
def test_bad_toml_is_explained(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=message):
        config_from_sources({"config": path}, env={})


def test_missing_toml_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        config_from_sources({"config": tmp_path / "nope.toml"}, env={})


def test_invalid_value_names_setting_and_source() -> None:
    with pytest.raises(ValueError, match="top_k.*environment variable RAGDROP_TOP_K"):
        config_from_sources(env={"RAGDROP_TOP_K": "lots"})
    with pytest.raises(ValueError, match="chunking.*flag --chunking"):
        config_from_sources({"chunking": "by-vibes"}, env={})
    with pytest.raises(ValueError, match="port must be an integer"):
        server_settings_from_sources(env={"RAGDROP_PORT": "http"})
    with pytest.raises(ValueError, match="port must be from 0 to 65535"):
        server_settings_from_sources({"port": 70000}, env={})


def test_invalid_secret_is_not_echoed() -> None:
    with pytest.raises(ValueError) as info:
        config_from_sources({"qdrant_api_key": 12345}, env={})
    assert "12345" not in str(info.value)


@settings(max_examples=30)
@given(
    top_k=st.integers(1, 1000),
    chunking=st.sampled_from(["fixed", "semantic"]),
    chunk_size=st.none() | st.integers(1, 4096),
    rerank=st.booleans(),
    collection=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    url=st.none() | st.just("http://qdrant:6333"),
)
def test_environment_round_trip(
    top_k: int,
    chunking: str,
    chunk_size: int | None,
    rerank: bool,
    collection: str,
    url: str | None,
) -> None:
    config = PipelineConfig(
        top_k=top_k,
        chunking=chunking,  # type: ignore[arg-type]
        chunk_size=chunk_size,
        rerank=rerank,
        collection=collection,
        qdrant_url=url,
    )
    assert config_from_sources(env=config_to_env(config)) == config


def test_old_candidates_name_still_sets_the_fused_depth(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text("candidates = 12\n")
    with pytest.warns(DeprecationWarning, match="candidates is deprecated, use fused_candidates"):
        assert config_from_sources({"config": path}, env={}).fused_candidates == 12
    with pytest.warns(DeprecationWarning, match="RAGDROP_CANDIDATES"):
        assert config_from_sources(env={"RAGDROP_CANDIDATES": "13"}).fused_candidates == 13
    with pytest.warns(DeprecationWarning, match="flag --candidates"):
        assert config_from_sources(parse("--candidates", "14"), env={}).fused_candidates == 14


def test_new_name_wins_over_the_old_one_in_the_same_source() -> None:
    env = {"RAGDROP_CANDIDATES": "13", "RAGDROP_FUSED_CANDIDATES": "40"}
    with pytest.warns(DeprecationWarning):
        config = config_from_sources(env=env)
    assert (config.fused_candidates, config.retriever_candidates) == (40, 100)
    with pytest.warns(DeprecationWarning):
        assert config_from_sources(parse("--candidates", "9"), env=env).fused_candidates == 9


def test_config_to_env_writes_only_current_names() -> None:
    env = config_to_env(PipelineConfig(fused_candidates=20, retriever_candidates=50))
    assert env["RAGDROP_FUSED_CANDIDATES"] == "20"
    assert env["RAGDROP_RETRIEVER_CANDIDATES"] == "50"
    assert "RAGDROP_CANDIDATES" not in env
