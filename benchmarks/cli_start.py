"""CLI start: ``ragdrop [COMMAND] --help`` in a cold process against the eager imports it used to pay.

Each command's ``--help`` runs in a fresh interpreter (``python -m ragdrop.cli.main ...``),
``--runs`` times (median). The baseline, in the same run and interleaved, is the same
``--help`` after importing what the CLI loaded before its commands imported their engines on
use (``ragdrop.pipeline.rag``, the retrievers, the evaluation runner, the server app): what
``ragdrop --help`` cost when every command module imported its engines at the top. Goal
(issue 17): every ``--help`` <= 1.5 s.

Usage: ``python -m benchmarks.cli_start [--quick] [--runs N] [--summary PATH]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from benchmarks._summary import Row, add_summary_option, write_summary

COMMANDS = ("", "demo", "ingest", "ask", "serve", "eval", "backup", "restore", "health")
EAGER = (
    "import ragdrop.pipeline.rag, ragdrop.retrievers, ragdrop.evaluation.runner, "
    "ragdrop.server.app, ragdrop.vector_stores"
)
GOAL_S = 1.5


def _seconds(prelude: str, command: str) -> float:
    argv = [command, "--help"] if command else ["--help"]
    code = f"{prelude}\nfrom ragdrop.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="'--help' and 'ask --help' only")
    parser.add_argument("--runs", type=int, default=3, help="cold processes per command")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    commands = ("", "ask") if args.quick else COMMANDS
    rows: list[Row] = []
    print(f"{'command':<22}{'lazy s':>9}{'eager s':>9}{'ratio':>8}  goal <= {GOAL_S} s")
    worst = 0.0
    for command in commands:
        lazy, eager = [], []
        for _ in range(args.runs):  # interleaved: both see the same machine load
            lazy.append(_seconds("", command))
            eager.append(_seconds(EAGER, command))
        ours, base = statistics.median(lazy), statistics.median(eager)
        worst = max(worst, ours)
        name = f"ragdrop {command} --help".replace("  ", " ")
        print(
            f"{name:<22}{ours:>9.2f}{base:>9.2f}{ours / base:>7.2f}x  "
            + ("met" if ours <= GOAL_S else "NOT met")
        )
        rows.append(Row("lazy CLI vs eager imports", f"{name} (s)", ours, base))
    print(f"slowest --help: {worst:.2f} s ({'met' if worst <= GOAL_S else 'NOT met'})")
    write_summary(args.summary, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
