"""Where a semantic chunk ends: rules over the cosine distances between neighbouring windows.

Each rule takes ``distances`` (``distances[i]`` is between sentence ``i`` and ``i + 1``) and
returns the sorted indices ``i`` after which a chunk ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class BreakpointRule(StrEnum):
    """How a large enough jump in distance is recognised."""

    PERCENTILE = "percentile"  # distance above the given percentile (LlamaIndex: 95)
    THRESHOLD = "threshold"  # cosine similarity below a fixed value (the seed's 0.7)
    STDDEV = "stddev"  # distance above mean + amount standard deviations (LangChain: 3)
    GRADIENT = "gradient"  # gradient of distance above the given percentile (LangChain: 95)


DEFAULT_AMOUNTS: dict[BreakpointRule, float] = {
    BreakpointRule.PERCENTILE: 95.0,
    BreakpointRule.THRESHOLD: 0.7,
    BreakpointRule.STDDEV: 3.0,
    BreakpointRule.GRADIENT: 95.0,
}


def _above(values: FloatArray, threshold: float) -> list[int]:
    return [int(i) for i in np.flatnonzero(values > threshold)]


def percentile_breakpoints(distances: FloatArray, percentile: float) -> list[int]:
    """Break where the distance exceeds its ``percentile``-th percentile."""
    if distances.size == 0:
        return []
    return _above(distances, float(np.percentile(distances, percentile)))


def threshold_breakpoints(distances: FloatArray, similarity: float) -> list[int]:
    """Break where cosine similarity (``1 - distance``) falls below ``similarity``."""
    return _above(distances, 1.0 - similarity)


def stddev_breakpoints(distances: FloatArray, k: float) -> list[int]:
    """Break where the distance exceeds its mean by more than ``k`` standard deviations."""
    if distances.size == 0:
        return []
    return _above(distances, float(distances.mean() + k * distances.std()))


def gradient_breakpoints(distances: FloatArray, percentile: float) -> list[int]:
    """Break where the distance rises fastest: gradient above its ``percentile``-th percentile."""
    if distances.size < 2:
        return []
    gradient = np.gradient(distances)
    return _above(gradient, float(np.percentile(gradient, percentile)))


_RULES = {
    BreakpointRule.PERCENTILE: percentile_breakpoints,
    BreakpointRule.THRESHOLD: threshold_breakpoints,
    BreakpointRule.STDDEV: stddev_breakpoints,
    BreakpointRule.GRADIENT: gradient_breakpoints,
}


def find_breakpoints(rule: BreakpointRule, distances: FloatArray, amount: float) -> list[int]:
    """Apply ``rule`` with its ``amount`` (percentile, similarity or deviations)."""
    return _RULES[rule](distances, amount)


def check_amount(rule: BreakpointRule, amount: float) -> None:
    """Raise ValueError when ``amount`` is outside what ``rule`` accepts."""
    if rule in (BreakpointRule.PERCENTILE, BreakpointRule.GRADIENT) and not 0 <= amount <= 100:
        raise ValueError(
            f"breakpoint_amount for {rule.value!r} is a percentile in [0, 100], got {amount}"
        )
    if rule is BreakpointRule.THRESHOLD and not -1 <= amount <= 1:
        raise ValueError(
            f"breakpoint_amount for 'threshold' is a cosine similarity in [-1, 1], got {amount}"
        )
    if rule is BreakpointRule.STDDEV and amount < 0:
        raise ValueError(f"breakpoint_amount for 'stddev' must be >= 0, got {amount}")


def window_distances(vectors: FloatArray, buffer_size: int) -> FloatArray:
    """Cosine distances between consecutive windows of ``2 * buffer_size + 1`` sentences.

    A window's vector is the sum of its sentences' vectors, so each sentence is embedded
    once however wide the window.
    """
    n = vectors.shape[0]
    if n < 2:
        return np.zeros(0)
    if buffer_size > 0:
        cumulative = np.vstack([np.zeros((1, vectors.shape[1])), np.cumsum(vectors, axis=0)])
        lo = np.clip(np.arange(n) - buffer_size, 0, n)
        hi = np.clip(np.arange(n) + buffer_size + 1, 0, n)
        vectors = cumulative[hi] - cumulative[lo]
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    unit = vectors / norms[:, None]
    similarity = np.einsum("ij,ij->i", unit[:-1], unit[1:])
    return np.asarray(1.0 - similarity, dtype=np.float64)


def merge_small_groups(
    bounds: Sequence[int],
    sizes: Sequence[int],
    distances: Sequence[float],
    min_size: int,
    max_size: int,
) -> list[int]:
    """Merge groups smaller than ``min_size`` into their closer neighbour when it fits.

    Args:
        bounds: end index (exclusive) of each group of sentences, ascending.
        sizes: size of each group.
        distances: distance across the boundary after each group (one fewer than groups).
        min_size: groups smaller than this are merged when possible.
        max_size: a merge must not exceed this.

    Returns the ends of the merged groups.

    Example:
        >>> merge_small_groups([2, 3, 6], [40, 5, 50], [0.5, 0.2], min_size=10, max_size=100)
        [2, 6]
    """
    ends = list(bounds)
    size = list(sizes)
    gap = list(distances)
    i = 0
    while i < len(ends):
        if size[i] >= min_size or len(ends) == 1:
            i += 1
            continue
        left = gap[i - 1] if i > 0 and size[i - 1] + size[i] <= max_size else None
        right = gap[i] if i < len(ends) - 1 and size[i + 1] + size[i] <= max_size else None
        if left is None and right is None:
            i += 1
            continue
        if right is None or (left is not None and left <= right):
            size[i - 1] += size[i]
            ends[i - 1] = ends[i]
            del ends[i], size[i], gap[i - 1]
            i -= 1  # the merged group may still be small
        else:
            size[i + 1] += size[i]
            del ends[i], size[i], gap[i]
    return ends
