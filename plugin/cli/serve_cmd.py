"""``ragdrop serve``: the HTTP API (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ragdrop.pipeline.settings import (
    CONFIG_ENV,
    add_settings_arguments,
    config_from_sources,
    config_to_env,
    is_loopback,
    server_settings_from_sources,
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="serve questions, ingestion, health and metrics over HTTP",
        description=(
            "POST /query, POST /documents, GET /jobs/{id}, DELETE /documents/{id}, "
            "GET /health/live, GET /health/ready, GET /metrics. Set RAGDROP_API_KEY to require "
            "a bearer token; without one the server listens on 127.0.0.1 only, unless "
            "--insecure-no-auth. A blank or placeholder key is refused."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_arguments(parser, section="server")
    add_settings_arguments(parser)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that every other command starts faster: the server pulls in FastAPI
    # (measured +0.8 s on top of `import ragdrop`; uvicorn itself +25 ms).
    import uvicorn

    from ragdrop.server.app import check_workers, create_app
    from ragdrop.server.chat import llm_from_env

    env = dict(os.environ)
    try:
        config = config_from_sources(args, env=env)
        server = server_settings_from_sources(args, env=env)
        check_workers(config, server["workers"])
    except ValueError as exc:
        print(f"ragdrop serve: {exc}", file=sys.stderr)
        return 2
    if server["api_key"]:
        auth = "bearer token required"
    elif is_loopback(server["host"]):
        auth = "no API key: open to every local user"
        print(
            "ragdrop serve: warning: no API key, so anyone on this machine may query, add and "
            "delete documents; set RAGDROP_API_KEY to require a bearer token",
            file=sys.stderr,
        )
    else:
        auth = "no API key: open to anyone who can connect"
        print(
            f"ragdrop serve: warning: --insecure-no-auth: anyone who can reach {server['host']} "
            "may query, add and delete documents; set RAGDROP_API_KEY to require a bearer token",
            file=sys.stderr,
        )
    print(
        f"ragdrop serve: http://{server['host']}:{server['port']} ({auth}); index "
        f"{config.qdrant_url or config.qdrant_path}, collection {config.collection!r}",
        file=sys.stderr,
    )
    # The LLM of /chat: create_app_from_env (every worker) reads the same variables.
    for name in ("llm_url", "llm_model", "llm_api_key"):
        if server[name]:
            os.environ[f"RAGDROP_{name.upper()}"] = str(server[name])
    try:
        llm = llm_from_env(os.environ)
    except (ValueError, ImportError) as exc:
        print(f"ragdrop serve: {exc}", file=sys.stderr)
        return 2
    common = {"host": server["host"], "port": server["port"], "log_level": args.log_level}
    if server["workers"] == 1:
        app = create_app(
            config,
            api_key=server["api_key"],
            insecure_no_auth=server["insecure_no_auth"],
            max_body_bytes=server["max_body_bytes"],
            max_top_k=server["max_top_k"],
            llm=llm,
        )
        uvicorn.run(app, **common)
        return 0
    # Worker processes rebuild the same settings from the environment they inherit.
    os.environ.pop(CONFIG_ENV, None)
    os.environ.update(config_to_env(config))
    os.environ["RAGDROP_MAX_BODY_BYTES"] = str(server["max_body_bytes"])
    os.environ["RAGDROP_MAX_TOP_K"] = str(server["max_top_k"])
    os.environ["RAGDROP_HOST"] = server["host"]
    os.environ["RAGDROP_INSECURE_NO_AUTH"] = "1" if server["insecure_no_auth"] else "0"
    if server["api_key"]:
        os.environ["RAGDROP_API_KEY"] = server["api_key"]
    uvicorn.run(
        "ragdrop.server.app:create_app_from_env",
        factory=True,
        workers=server["workers"],
        **common,
    )
    return 0
