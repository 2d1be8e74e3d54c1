"""The standard-library normal distribution in `deltajudge.stats._special` agrees with
scipy.stats on many inputs: to ~1e-13 (relative) where figures live, and through the far
tails down to where both underflow; the ends and NaN behave as scipy's do. Small runs no
longer import scipy at all (tests/test_startup.py checks that)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from deltajudge.stats._special import norm_cdf, norm_ppf, norm_sf, wilson_interval


def _close(ours: float, theirs: float, rel: float) -> bool:
    """Equal to ``rel`` (relative), the same infinity, or both NaN."""
    theirs = float(theirs)
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    return ours == theirs or math.isclose(ours, theirs, rel_tol=rel, abs_tol=0.0)


def _points() -> list[float]:
    """Ordinary z values, the far tails, signed zeros and infinities."""
    rng = np.random.default_rng(17)
    values = [*rng.normal(0.0, 3.0, 4000), *rng.uniform(-40.0, 40.0, 2000)]
    values += [0.0, -0.0, 1e-300, -1e-300, 8.0, -8.0, 38.5, -38.5, math.inf, -math.inf]
    return [float(v) for v in values]


def _probabilities() -> list[float]:
    rng = np.random.default_rng(18)
    values = [*rng.uniform(0.0, 1.0, 4000), *(10.0 ** -rng.uniform(1, 300, 1000))]
    values += [0.5, 0.975, 0.8, 0.95, 1 - 1e-16, 5e-324]
    return [float(v) for v in values]


def _tail_tolerance(x: float) -> float:
    """Both libraries divide by √2 before erfc, so an ulp of the argument becomes ~2·x²
    ulps of a far tail; below 1e-300 scipy's ``ndtr`` itself loses digits (subnormals)."""
    return 1e-13 if abs(x) < 8 else 1e-9


def test_normal_tails_agree_with_scipy_stats() -> None:
    points = _points()
    cdf, sf = scipy.stats.norm.cdf(points), scipy.stats.norm.sf(points)
    for x, c, s in zip(points, cdf, sf, strict=True):
        for ours, theirs in ((norm_cdf(x), c), (norm_sf(x), s)):
            if min(ours, theirs) < 1e-300:  # subnormal: scipy's is the imprecise answer
                assert max(ours, theirs) < 1e-300, x
            else:
                assert _close(ours, theirs, _tail_tolerance(x)), x


def test_normal_tails_underflow_to_zero_and_stay_in_zero_one() -> None:
    assert norm_cdf(-40.0) == 0.0 and norm_sf(40.0) == 0.0
    assert norm_cdf(40.0) == 1.0 and norm_sf(-40.0) == 1.0
    assert norm_cdf(0.0) == norm_sf(0.0) == 0.5
    assert norm_cdf(-math.inf) == 0.0 and norm_sf(-math.inf) == 1.0
    assert math.isnan(norm_cdf(math.nan))


def test_normal_quantile_agrees_with_scipy_stats() -> None:
    probabilities = _probabilities()
    ppf = scipy.stats.norm.ppf(probabilities)
    assert all(_close(norm_ppf(q), z, 1e-14) for q, z in zip(probabilities, ppf, strict=True))
    # the quantile the figures use most, within an ulp of the true value at the double
    # nearest 0.975 (1.959963984540053854..., from a 50-digit computation)
    assert abs(norm_ppf(0.975) - 1.9599639845400538) <= math.ulp(1.96)


@pytest.mark.parametrize("q", [0.0, 1.0, -0.1, 1.5, math.nan, -math.inf])
def test_normal_quantile_ends_and_outside_are_what_scipy_gives(q: float) -> None:
    assert _close(norm_ppf(q), scipy.stats.norm.ppf(q), 0.0)


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99, 0.5, 0.8, 0.999])
def test_wilson_interval_matches_binomtest_for_every_count_up_to_40(confidence: float) -> None:
    for n in [*range(1, 41), 97, 1000, 4096, 99_999, 100_000]:
        for k in range(n + 1) if n <= 40 else (0, 1, 2, n // 3, n // 2, n - 1, n):
            theirs = scipy.stats.binomtest(k, n).proportion_ci(
                confidence_level=confidence, method="wilson"
            )
            low, high = wilson_interval(k, n, confidence)
            assert _close(low, theirs.low, 1e-13) and _close(high, theirs.high, 1e-13)
            assert (low == 0.0) == (k == 0) and (high == 1.0) == (k == n), (k, n)


@pytest.mark.parametrize(("k", "n"), [(-1, 3), (4, 3), (0, 0)])
def test_wilson_interval_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError, match=f"k={k}, n={n}"):
        wilson_interval(k, n, 0.95)
