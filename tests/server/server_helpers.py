"""Helpers: a real uvicorn on 127.0.0.1 (in a thread or a subprocess), driven by httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run ``app`` on a free port in a thread; yields the base URL."""
    port = free_port()
    # log_config=None: uvicorn's loggers propagate to the root logger, so caplog sees them.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="info")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


class ServerProcess:
    """The server in a subprocess: ``ragdrop serve`` or ``uvicorn --factory`` (``cli=False``).

    Both read their settings from ``RAGDROP_*`` variables in ``env``.
    """

    def __init__(self, env: dict[str, str], log: Path, cli: bool = True) -> None:
        self.cli = cli
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        if self.cli:
            cmd = [sys.executable, "-m", "ragdrop.cli.main", "serve", "--port", str(self.port)]
        else:
            cmd = [
                sys.executable, "-m", "uvicorn", "--factory",
                "ragdrop.server.app:create_app_from_env",
                "--host", "127.0.0.1", "--port", str(self.port),
            ]  # fmt: skip
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=handle, stderr=handle)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/jobs/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return dict(state)
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not finish")


def series(metrics_text: str) -> set[str]:
    """Names with labels of the samples (time series) in a Prometheus text exposition."""
    return {
        line.rsplit(" ", 1)[0]
        for line in metrics_text.splitlines()
        if line and not line.startswith("#")
    }


def count_series(metrics_text: str) -> int:
    """Number of exported samples (time series)."""
    return len(series(metrics_text))
