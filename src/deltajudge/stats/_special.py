"""The normal distribution and the Wilson interval, from scipy.special rather than scipy.stats.

Importing scipy.stats costs a small run more than its network calls do (about 2 s on a
2-core runner: it builds every distribution and rewrites their docstrings), while the
figures every run needs, a pass rate's interval and a few normal quantiles, are one
scipy.special ufunc each. These functions call the very ufuncs ``scipy.stats.norm`` and
``scipy.stats.binomtest(...).proportion_ci(method="wilson")`` call, composed in the same
order, so every figure is bit-for-bit what scipy.stats gives
(``tests/test_stats_special.py`` compares them on many inputs). The resampling and rank
statistics (bootstrap, binomtest's p-value, Spearman, regression) still come from
scipy.stats, imported by the function that needs them, so a run that never reaches one
never pays for it.
"""

from __future__ import annotations

from math import sqrt

from scipy.special import ndtr, ndtri


def norm_cdf(x: float) -> float:
    """``scipy.stats.norm.cdf(x)``: the standard normal's lower tail."""
    return float(ndtr(x))


def norm_sf(x: float) -> float:
    """``scipy.stats.norm.sf(x)``: the upper tail, computed as scipy does (cdf of -x)."""
    return float(ndtr(-x))


def norm_ppf(q: float) -> float:
    """``scipy.stats.norm.ppf(q)``: the standard normal quantile."""
    return float(ndtri(q))


def wilson_interval(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Two-sided Wilson score interval for ``k`` successes in ``n`` trials (n >= 1):
    ``scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")``, the same
    arithmetic (Newcombe 1998) on the same types, so the bounds match to the bit."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"wilson_interval: need 0 <= k <= n and n >= 1 (got k={k}, n={n})")
    p = k / n
    z = ndtri(0.5 + 0.5 * confidence)
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    q = 1 - p
    delta = z / denom * sqrt(4 * n * p * q + z**2)
    low = 0.0 if k == 0 else center - delta
    high = 1.0 if k == n else center + delta
    return float(low), float(high)
