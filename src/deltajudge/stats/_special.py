"""The normal distribution and the Wilson interval, from Python's standard library.

The figures every run needs, a pass rate's interval and a few normal tails and
quantiles, are one standard-library call each: ``math.erfc`` for the tails and
``statistics.NormalDist.inv_cdf`` (Wichura's AS241) for the quantiles. Importing
scipy.special for them would cost a small run about 0.3 s of its start-up (it loads
scipy's array-API layer), and scipy.stats about 1.5 s more; neither is more accurate
here: against 50-digit references both are right to about 1e-14 (relative) for |z| < 8
and quantiles to 4 ulps, and in the subnormal tail ``math.erfc`` keeps digits that
scipy's ``ndtr`` loses.
``tests/test_stats_special.py`` holds them to scipy.stats on many inputs. The resampling
and rank statistics (bootstrap, binomtest's p-value, Spearman, regression) still come
from scipy.stats, imported by the function that needs them, so a run that never
reaches one never pays for it.
"""

from __future__ import annotations

from math import erfc, inf, isnan, nan, sqrt
from statistics import NormalDist

_STANDARD = NormalDist()


def norm_cdf(x: float) -> float:
    """``scipy.stats.norm.cdf(x)``: the standard normal's lower tail. Through ``erfc`` of
    ``-x/√2`` rather than ``1 + erf``, so the far lower tail keeps its digits."""
    return 0.5 * erfc(-x / sqrt(2.0))


def norm_sf(x: float) -> float:
    """``scipy.stats.norm.sf(x)``: the upper tail, as accurate far out as the lower."""
    return 0.5 * erfc(x / sqrt(2.0))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)``: the standard normal quantile; like scipy, -inf at 0,
    inf at 1 and NaN outside [0, 1] (``NormalDist`` raises at the ends instead)."""
    if isnan(q) or not 0.0 <= q <= 1.0:
        return nan
    if q in (0.0, 1.0):
        return -inf if q == 0.0 else inf
    return _STANDARD.inv_cdf(q)


def wilson_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Two-sided Wilson score interval for ``k`` successes in ``n`` trials (n >= 1):
    ``scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")``, the same
    arithmetic (Newcombe 1998) on the same types."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"wilson_interval: need 0 <= k <= n and n >= 1 (got k={k}, n={n})")
    p = k / n
    z = norm_ppf(0.5 + 0.5 * confidence)
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    q = 1 - p
    delta = z / denom * sqrt(4 * n * p * q + z**2)
    low = 0.0 if k == 0 else center - delta
    high = 1.0 if k == n else center + delta
    return low, high
