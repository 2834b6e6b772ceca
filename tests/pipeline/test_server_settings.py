"""Server settings fail closed (issue 14): blank or placeholder API keys and keyless binds on
other interfaces are refused, from every source, with one line naming the source and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdrop.pipeline.settings import (
    api_key_problem,
    config_from_sources,
    is_loopback,
    server_settings_from_sources,
)

pytestmark = pytest.mark.unit

GOOD_KEY = "k7Qx9-pW2m_Rt4vL"


@pytest.mark.parametrize(
    "key",
    [
        "", " ", "\t\n", "none", "None", "NULL", "nil", "false", "0", "undefined", "changeme",
        "CHANGE_ME", "change-me-in-production", "replace-me", "your-api-key", "<your-key>",
        "${RAGDROP_API_KEY}", "$API_KEY", "{{ api_key }}", "xxxxxxxx", "********", "secret",
        "password", "placeholder",
    ],
)  # fmt: skip
def test_blank_and_placeholder_keys_are_refused(key: str) -> None:
    assert api_key_problem(key) is not None
    with pytest.raises(ValueError, match="environment variable RAGDROP_API_KEY") as info:
        server_settings_from_sources(env={"RAGDROP_API_KEY": key})
    message = str(info.value)
    assert "\n" not in message and "--api-key" in message and "token_urlsafe" in message
    assert "change-me-in-production" not in message and "${" not in message, "never echo a key"


@pytest.mark.parametrize("key", [GOOD_KEY, "test-key-5f1d2c", "s3cret-9f2a", "a1"])
def test_real_keys_are_kept(key: str) -> None:
    assert api_key_problem(key) is None
    assert server_settings_from_sources(env={"RAGDROP_API_KEY": key})["api_key"] == key


def test_keys_with_surrounding_whitespace_are_refused() -> None:
    with pytest.raises(ValueError, match="leading or trailing whitespace"):
        server_settings_from_sources(env={"RAGDROP_API_KEY": GOOD_KEY + "\n"})


def test_a_blank_key_is_refused_from_the_flag_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flag --api-key is empty"):
        server_settings_from_sources({"api_key": ""}, env={})
    toml = tmp_path / "ragdrop.toml"
    toml.write_text('[server]\napi_key = "changeme"\n')
    with pytest.raises(ValueError, match=f"from {toml} is a placeholder"):
        server_settings_from_sources({"config": str(toml)}, env={})


def test_an_unset_key_is_open_on_loopback_only() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        server = server_settings_from_sources(env={"RAGDROP_HOST": host})
        assert server["api_key"] is None and server["insecure_no_auth"] is False
    for host in ("0.0.0.0", "::", "192.0.2.10", "example.org"):
        with pytest.raises(ValueError, match="--insecure-no-auth") as info:
            server_settings_from_sources(env={"RAGDROP_HOST": host})
        assert f"host {host} (from environment variable RAGDROP_HOST)" in str(info.value)


def test_insecure_no_auth_allows_other_interfaces_from_flag_or_environment() -> None:
    flag = server_settings_from_sources({"host": "0.0.0.0", "insecure_no_auth": True}, env={})
    assert flag["insecure_no_auth"] is True
    for raw in ("1", "true", "YES", "on"):
        env = {"RAGDROP_HOST": "0.0.0.0", "RAGDROP_INSECURE_NO_AUTH": raw}
        assert server_settings_from_sources(env=env)["insecure_no_auth"] is True
    with pytest.raises(ValueError, match="--insecure-no-auth"):
        server_settings_from_sources(
            env={"RAGDROP_HOST": "0.0.0.0", "RAGDROP_INSECURE_NO_AUTH": "0"}
        )
    with pytest.raises(ValueError, match="RAGDROP_INSECURE_NO_AUTH"):
        server_settings_from_sources(env={"RAGDROP_INSECURE_NO_AUTH": "maybe"})


def test_a_key_allows_every_interface() -> None:
    server = server_settings_from_sources(
        env={"RAGDROP_HOST": "0.0.0.0", "RAGDROP_API_KEY": GOOD_KEY}
    )
    assert server["host"] == "0.0.0.0" and server["api_key"] == GOOD_KEY


def test_a_blank_qdrant_key_still_means_none() -> None:
    """Only the server's key fails closed on blank: worker processes get
    ``RAGDROP_QDRANT_API_KEY=""`` for "no key" (`config_to_env`)."""
    assert config_from_sources(env={"RAGDROP_QDRANT_API_KEY": ""}).qdrant_api_key is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
        ("::ffff:127.0.0.1", True), ("LOCALHOST", True), ("0.0.0.0", False), ("::", False),
        ("10.0.0.1", False), ("fd00::2", False), ("localhost.example.org", False), ("", False),
    ],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
