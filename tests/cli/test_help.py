"""Every flag of every settings-driven command shows its default and its variable."""

from __future__ import annotations

import argparse

import pytest

from ragdrop.cli.main import build_parser

pytestmark = pytest.mark.unit

MY_COMMANDS = ("ingest", "ask", "serve", "backup", "restore", "health")


@pytest.mark.parametrize("command", MY_COMMANDS)
def test_help_shows_every_default(command: str) -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = subparsers.choices[command]
    formatter = sub._get_formatter()
    for action in sub._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS):
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        text = formatter._expand_help(action)
        assert "default" in text, f"{command} {action.option_strings}: {text}"
    assert "RAGDROP_TOP_K" in sub.format_help() or command in ("backup", "restore", "health")


HEAVY = ("torch", "sentence_transformers", "llama_index.core", "qdrant_client", "fastapi")


@pytest.mark.parametrize("command", ["", *MY_COMMANDS, "demo", "eval"])
def test_help_loads_no_engine(command: str) -> None:
    """`ragdrop [COMMAND] --help` in a fresh process imports none of the heavy engines (they
    cost seconds; the command loads them when it runs), and neither does `import ragdrop`."""
    import subprocess
    import sys

    argv = [command, "--help"] if command else ["--help"]
    probe = (
        "import sys\n"
        "from ragdrop.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-300:]


def test_import_ragdrop_is_light_and_still_exports_everything() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, ragdrop\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print(all(getattr(ragdrop, n) is not None for n in ragdrop.__all__))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    light, complete = out.stdout.strip().splitlines()[-2:]
    assert light == "[]"
    assert complete == "True"
