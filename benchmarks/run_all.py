"""Run every benchmark in ``benchmarks/`` and print one summary table.

Each benchmark runs in its own subprocess (its quick size unless ``--full``) under a timeout, so
one failure does not stop the others. Its own output passes through; the rows it writes with
``--summary`` are gathered into one table: ours, the baseline measured in the same run, their
ratio and which direction is better. Benchmarks that read evaluation data take it from
``../shared/evaldata`` beside the repository and report a skipped row when it is missing.

Usage: ``python -m benchmarks.run_all [--full] [--only NAME,...] [--timeout S] [--json PATH]``
(``make bench ARGS=--full``).
"""

from __future__ import annotations

import argparse
import json
import os
import pkgutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from benchmarks._summary import Row, read_summary

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RUNNER = "run_all"
QUICK_TIMEOUT_S = 600
FULL_TIMEOUT_S = 3 * 3600
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
HEADER = (
    "benchmark",
    "compared (ours vs baseline)",
    "metric",
    "ours",
    "baseline",
    "ours/base",
    "better",
    "status",
)
RIGHT_ALIGNED = {3, 4, 5}

__all__ = ["Outcome", "discover", "main", "render", "run_one"]


def discover(directory: Path = BENCH_DIR) -> list[str]:
    """Every benchmark module in ``directory``: all but helpers (``_*``) and this runner."""
    names = (module.name for module in pkgutil.iter_modules([str(directory)]))
    return sorted(n for n in names if not n.startswith("_") and n != RUNNER)


@dataclass(frozen=True)
class Outcome:
    """What one benchmark run gave: its summary rows, or why it has none.

    Args:
        name: the module name in ``benchmarks/``.
        status: ``"ok"`` (its rows may still be skipped ones) or ``"failed"``.
        seconds: wall time of its subprocess.
        rows: the rows it wrote with ``--summary``.
        reason: why it failed.
    """

    name: str
    status: Literal["ok", "failed"]
    seconds: float = 0.0
    rows: tuple[Row, ...] = ()
    reason: str = ""


def _kill(process: subprocess.Popen[str], killed: threading.Event) -> None:
    killed.set()
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the group: some benchmarks spawn workers
    except ProcessLookupError:
        pass


def run_one(name: str, full: bool, timeout_s: float, workdir: Path) -> Outcome:
    """Run ``benchmarks.<name>`` in a subprocess; its stdout and stderr pass through."""
    summary = workdir / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--summary", str(summary)]
    if not full:
        command.append("--quick")
    print(f"\n=== benchmarks.{name} ({'full' if full else 'quick'}) ===", flush=True)
    # Unbuffered: the child's stdout and the stderr relayed here stay in order in a pipe.
    env = {**OFFLINE_ENV, **os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    killed = threading.Event()
    timer = threading.Timer(timeout_s, _kill, (process, killed))
    timer.start()
    last = ""
    try:
        for line in process.stderr or ():
            sys.stderr.write(line)
            last = line.strip() or last
        code = process.wait()
    except BaseException:
        _kill(process, killed)  # Ctrl-C reaches only our group: end the benchmark's too
        raise
    finally:
        timer.cancel()
    seconds = time.perf_counter() - start
    if killed.is_set():
        return Outcome(name, "failed", seconds, reason=f"timed out after {timeout_s:.0f} s")
    if code != 0:
        reason = f"exit {code}: {last}" if last else f"exit {code}"
        return Outcome(name, "failed", seconds, reason=reason)
    if not summary.is_file():
        return Outcome(name, "failed", seconds, reason="wrote no --summary file")
    try:
        rows = read_summary(summary)
    except (ValueError, KeyError, TypeError) as error:
        return Outcome(name, "failed", seconds, reason=f"unreadable summary: {error!r}")
    if not rows:
        return Outcome(name, "failed", seconds, reason="summary has no rows")
    return Outcome(name, "ok", seconds, tuple(rows))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.4g}"


def _ratio(row: Row) -> str:
    ratio = row.ratio
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" if ratio == 0 or ratio >= 0.1 else f"{ratio:.2g}x"


def _cells(outcomes: Sequence[Outcome]) -> list[tuple[str, ...]]:
    cells: list[tuple[str, ...]] = []
    for outcome in outcomes:
        if outcome.status == "failed":
            cells.append((outcome.name, *["-"] * 6, f"failed: {outcome.reason}"))
            continue
        previous = ""
        for i, row in enumerate(outcome.rows):
            ok = row.status == "ok"
            cells.append(
                (
                    outcome.name if i == 0 else "",
                    row.compared if row.compared != previous else "",
                    row.metric,
                    _number(row.ours),
                    _number(row.baseline),
                    _ratio(row),
                    row.better if ok else "-",
                    row.status if ok else f"{row.status}: {row.reason}",
                )
            )
            previous = row.compared
    return cells


def render(outcomes: Sequence[Outcome]) -> str:
    """One table of every benchmark's rows; a failed benchmark is one row saying why."""
    cells = _cells(outcomes)
    widths = [max(len(line[i]) for line in [HEADER, *cells]) for i in range(len(HEADER))]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if i in RIGHT_ALIGNED else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join(
        [
            line(HEADER),
            rule,
            *(line(c) for c in cells),
            "",
            "ours/base = ours / baseline, both measured in this run (medians); 'better' says "
            "whether a lower or a higher value wins.",
        ]
    )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too ends the running benchmark's group, then the table


def main(argv: list[str] | None = None) -> int:
    names = discover()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full sizes instead of --quick")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {names}")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per benchmark (default {QUICK_TIMEOUT_S}, --full {FULL_TIMEOUT_S})",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.only:
        wanted = [n for n in args.only.split(",") if n]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"--only: unknown benchmark(s) {unknown}; choose from {names}")
        names = [n for n in names if n in wanted]
    timeout_s = args.timeout or (FULL_TIMEOUT_S if args.full else QUICK_TIMEOUT_S)

    signal.signal(signal.SIGTERM, _interrupt)
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ragdrop-run-all-") as workdir:
        for name in names:
            try:
                outcomes.append(run_one(name, args.full, timeout_s, Path(workdir)))
            except KeyboardInterrupt:
                outcomes.append(Outcome(name, "failed", reason="interrupted"))
                break
    total = time.perf_counter() - start

    print(f"\n{'full' if args.full else 'quick'} run of {len(outcomes)} benchmark(s):\n")
    print(render(outcomes))
    times = ", ".join(f"{o.name} {_duration(o.seconds)}" for o in outcomes)
    print(f"wall time: {_duration(total)} ({times})")
    if args.json:
        results = {"full": args.full, "seconds": total, "outcomes": [asdict(o) for o in outcomes]}
        args.json.write_text(json.dumps(results, indent=2), "utf-8")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
