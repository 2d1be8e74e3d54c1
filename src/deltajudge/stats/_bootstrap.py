"""The one bootstrap every interval in deltajudge goes through.

Seeded, so two runs over the same results print the same interval: a report that
changes on re-render would make a CI gate flaky without anything having changed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Values resampled per vectorised batch (batch × n floats, and as many indices): bounds
#: memory at any n (4 MB per array at 100,000 cases, not 800 MB; a paired statistic holds
#: several) without changing the draws, so the interval is the same whatever the batch.
_BATCH_VALUES = 500_000
_MAX_BATCH = 1_000


def mean_ci(
    values: NDArray[np.float64], *, seed: int, resamples: int, confidence: float
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval for the mean of ``values``.

    Percentile rather than scipy's default BCa: judge deltas are small integers that
    are mostly zero, and there BCa's skew correction chases the noise of a few
    non-zero cases. In simulations of such data its 95% interval covered the truth
    72–91% of the time (n = 15–100) against 76–93% for the percentile interval; on
    continuous data the two agree. Every bootstrap interval runs narrow below ~30
    cases, so small runs should lean on the p-values too.

    With fewer than two values there is nothing to resample: (None, None). When every
    value is equal the bootstrap distribution is a single point and so is the interval.
    """
    if values.size < 2:
        return None, None
    if np.ptp(values) == 0.0:
        point = float(values[0])
        return point, point
    result = _percentile_bootstrap((values,), np.mean, False, seed, resamples, confidence)
    low, high = result.confidence_interval
    return float(low), float(high)


def paired_statistic_ci(
    first: NDArray[np.float64],
    second: NDArray[np.float64],
    statistic: Callable[..., NDArray[np.float64]],
    *,
    seed: int,
    resamples: int,
    confidence: float,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``statistic(first, second, axis=-1)``, resampling
    cases (each keeps its pair). None when some resample leaves the statistic undefined
    (NaN, e.g. a regression line through points that all share one x): an interval
    over the other resamples would describe different data."""
    import scipy.stats  # here: runs with fewer than two cases never resample

    with warnings.catch_warnings():  # NaN resamples are handled below, not worth a warning
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        result = _percentile_bootstrap(
            (first, second), statistic, True, seed, resamples, confidence
        )
    low, high = (float(v) for v in result.confidence_interval)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None, None
    return low, high


def _percentile_bootstrap(
    data: tuple[NDArray[np.float64], ...],
    statistic: Callable[..., Any],
    paired: bool,
    seed: int,
    resamples: int,
    confidence: float,
) -> Any:
    """scipy's bootstrap with the settings every interval here shares (see `mean_ci`)."""
    import scipy.stats  # here: runs with fewer than two cases never resample

    return scipy.stats.bootstrap(
        data,
        statistic,
        paired=paired,
        n_resamples=resamples,
        batch=max(1, min(_MAX_BATCH, _BATCH_VALUES // max(1, data[0].size))),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
