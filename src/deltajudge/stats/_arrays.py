"""Input checks shared by the statistics functions.

The caller has already dropped cases that errored, so a NaN or a length mismatch here
means a bug upstream; failing loudly beats publishing a NaN in a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import SupportsFloat

import numpy as np
from numpy.typing import NDArray

#: Two scores closer than this are a tie: judge scores are small numbers, so anything
#: below it is floating-point noise, not a change in quality.
TIE_TOLERANCE = 1e-9


def as_scores(values: Sequence[float], name: str) -> NDArray[np.float64]:
    """A 1-D float array of finite values, or a ValueError naming the argument."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or infinity; drop errored cases before stats")
    return array


def as_flags(values: Sequence[bool], name: str) -> NDArray[np.bool_]:
    """A 1-D boolean array (pass/fail per case)."""
    array = np.asarray(values, dtype=np.bool_)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of booleans, got shape {array.shape}")
    return array


def same_length(first: NDArray[np.generic], second: NDArray[np.generic], what: str) -> None:
    """Paired figures only make sense case by case: both sides must list the same cases."""
    if first.shape != second.shape:
        raise ValueError(
            f"{what}: baseline has {first.size} cases, candidate has {second.size}; "
            "pair them by case id first"
        )


def deltas(baseline: NDArray[np.float64], candidate: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-case candidate − baseline, with float noise below the tie tolerance set to 0.

    Snapping makes the tie count, the sign test and Wilcoxon agree on which cases tied.
    """
    diff = candidate - baseline
    diff[np.abs(diff) <= TIE_TOLERANCE] = 0.0
    return diff


def optional_float(value: SupportsFloat) -> float | None:
    """A plain float for the report, or None where numpy/scipy produced NaN or infinity."""
    result = float(value)
    return result if np.isfinite(result) else None
