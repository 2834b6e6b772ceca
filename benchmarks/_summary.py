"""The small machine-readable result each benchmark writes for ``benchmarks.run_all``.

A benchmark given ``--summary PATH`` writes ``{"rows": [...]}`` there: one `Row` per headline
comparison of ours against the baseline measured in the same run (its own printed table stays
as it was). A row whose inputs are missing (evaluation data) is written with
``status="skipped"`` and the reason.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Better = Literal["lower", "higher"]
RowStatus = Literal["ok", "skipped"]

__all__ = ["Better", "Row", "add_summary_option", "read_summary", "skipped", "write_summary"]


@dataclass(frozen=True)
class Row:
    """One comparison: ``ours`` against ``baseline`` on ``metric``, measured in the same run.

    Args:
        compared: what is compared, as ``"ours vs baseline"``.
        metric: what was measured, with its unit.
        ours: our value (``None`` when skipped).
        baseline: the baseline's value (``None`` when skipped).
        better: whether a ``"lower"`` or a ``"higher"`` value wins.
        status: ``"ok"``, or ``"skipped"`` with ``reason``.
        reason: why the row was skipped.

    Example:
        >>> Row("ours vs theirs", "query p50 (ms)", 2.0, 4.0).ratio
        0.5
    """

    compared: str
    metric: str
    ours: float | None = None
    baseline: float | None = None
    better: Better = "lower"
    status: RowStatus = "ok"
    reason: str = ""

    @property
    def ratio(self) -> float | None:
        """``ours / baseline``; ``None`` when either is missing or the baseline is 0."""
        if self.ours is None or self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline


def skipped(compared: str, reason: str, metric: str = "-") -> Row:
    """A row that could not be measured, saying why (e.g. evaluation data missing)."""
    return Row(compared, metric, status="skipped", reason=reason)


def add_summary_option(parser: argparse.ArgumentParser) -> None:
    """The ``--summary PATH`` option every benchmark takes."""
    parser.add_argument(
        "--summary", type=Path, default=None, help="also write run_all's summary rows (JSON) here"
    )


def write_summary(path: Path | None, rows: list[Row]) -> None:
    """Write ``rows`` to ``path`` as JSON (nothing when ``path`` is ``None``)."""
    if path is not None:
        path.write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2), "utf-8")


def read_summary(path: Path) -> list[Row]:
    """The rows a benchmark wrote with `write_summary`."""
    data = json.loads(path.read_text("utf-8"))
    return [Row(**row) for row in data["rows"]]
