"""Fail closed (issue 14): real ``ragdrop serve`` and ``uvicorn --factory`` processes refuse a
blank or placeholder API key, and without a key answer on loopback only unless told otherwise."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from server_helpers import REPO, free_port

from ragdrop.pipeline.settings import is_loopback

pytestmark = pytest.mark.integration

SERVE = [sys.executable, "-m", "ragdrop.cli.main", "serve"]
FACTORY = [sys.executable, "-m", "uvicorn", "--factory", "ragdrop.server.app:create_app_from_env"]


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any RAGDROP_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGDROP_")}
    return {**env, "RAGDROP_DATA_DIR": str(data_dir), **extra}


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.254.254.254", 9))
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if is_loopback(address) or address == "0.0.0.0" else address


def refused(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[str]:
    """Start ``cmd``, wait until /health/live answers on 127.0.0.1:``port``; yield the URL."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as handle:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=handle, stderr=handle)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


# -- refusing to start -------------------------------------------------------------------------


# Every blank and placeholder form is in tests/pipeline/test_server_settings.py; here, the CLI.
@pytest.mark.parametrize("key", ["", "   ", "none", "changeme"])
def test_serve_refuses_a_blank_or_placeholder_key(tmp_path: Path, key: str) -> None:
    data_dir = tmp_path / "data"
    result = refused([*SERVE, "--port", str(free_port())], clean_env(data_dir, RAGDROP_API_KEY=key))
    line = assert_one_line_refusal(result, "RAGDROP_API_KEY", "--api-key", "token_urlsafe")
    assert result.returncode == 2
    assert line.startswith("ragdrop serve: the API key from environment variable RAGDROP_API_KEY")
    assert not data_dir.exists(), "refused before touching the data directory"


def test_serve_refuses_a_blank_key_flag(tmp_path: Path) -> None:
    result = refused([*SERVE, "--api-key", " "], clean_env(tmp_path / "data"))
    assert "flag --api-key" in assert_one_line_refusal(result, "RAGDROP_API_KEY")


def test_serve_refuses_another_interface_without_a_key(tmp_path: Path) -> None:
    result = refused([*SERVE, "--host", "0.0.0.0"], clean_env(tmp_path / "data"))
    assert_one_line_refusal(result, "0.0.0.0", "RAGDROP_API_KEY", "--insecure-no-auth")
    assert result.returncode == 2
    by_env = refused(SERVE, clean_env(tmp_path / "data", RAGDROP_HOST="::"))
    assert_one_line_refusal(by_env, "RAGDROP_HOST", "--insecure-no-auth")


def test_factory_refuses_a_blank_key_with_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", RAGDROP_API_KEY="")
    result = refused([*FACTORY, "--port", str(free_port())], env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("ragdrop:")]
    assert len(lines) == 1 and "RAGDROP_API_KEY" in lines[0], result.stderr


# -- starting ----------------------------------------------------------------------------------


def test_serve_without_a_key_on_loopback_starts_and_warns(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    with running([*SERVE, "--port", str(port)], clean_env(tmp_path / "data"), log, port) as url:
        assert httpx.get(url + "/metrics", timeout=30).status_code == 200
        address = non_loopback_ipv4()
        if address is not None:  # bound to 127.0.0.1 only: another interface cannot connect
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://{address}:{port}/health/live", timeout=5)
    assert "warning: no API key" in log.read_text()


def test_serve_with_insecure_no_auth_starts_on_every_interface(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    cmd = [*SERVE, "--host", "0.0.0.0", "--port", str(port), "--insecure-no-auth"]
    with running(cmd, clean_env(tmp_path / "data"), log, port) as url:
        assert httpx.get(url + "/metrics", timeout=30).status_code == 200
        address = non_loopback_ipv4()
        if address is not None:
            assert httpx.get(f"http://{address}:{port}/metrics", timeout=30).status_code == 200
    assert "warning: --insecure-no-auth" in log.read_text()


def test_serve_with_a_key_requires_it(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    key = "k7Qx9-pW2m_Rt4vL-serve-test"
    env = clean_env(tmp_path / "data", RAGDROP_API_KEY=key)
    with running([*SERVE, "--host", "0.0.0.0", "--port", str(port)], env, log, port) as url:
        assert httpx.get(url + "/metrics").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(url + "/metrics", headers=auth, timeout=30).status_code == 200
    assert "warning" not in log.read_text()


def test_factory_without_a_key_answers_only_on_loopback_whatever_uvicorn_binds(
    tmp_path: Path,
) -> None:
    """``uvicorn --host 0.0.0.0`` is invisible to the factory: the app itself refuses
    requests that reach it on another address."""
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no IPv4 address other than loopback")
    port, log = free_port(), tmp_path / "factory.log"
    cmd = [*FACTORY, "--host", "0.0.0.0", "--port", str(port)]
    with running(cmd, clean_env(tmp_path / "data"), log, port) as url:
        outside = f"http://{address}:{port}"
        for method, path in [("GET", "/metrics"), ("POST", "/query"), ("DELETE", "/documents/a")]:
            response = httpx.request(method, outside + path, json={"question": "q"}, timeout=30)
            assert response.status_code == 403, (path, response.text)
            assert "RAGDROP_API_KEY" in response.json()["detail"]
        assert httpx.get(outside + "/health/live", timeout=30).status_code == 200
        assert httpx.get(url + "/metrics", timeout=30).status_code == 200
    assert "serving without authentication, on loopback addresses only" in log.read_text()
