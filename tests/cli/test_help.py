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
