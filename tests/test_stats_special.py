"""The scipy.special compositions in `deltajudge.stats._special` give exactly what scipy.stats
gives, bit for bit, on many inputs: the figures did not move when scipy.stats left the
path of small runs (tests/test_startup.py checks that it left)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from deltajudge.stats._special import norm_cdf, norm_ppf, norm_sf, wilson_interval


def _same(ours: float, theirs: float) -> bool:
    """Bit-identical, NaN included (a figure that is NaN in one must be NaN in the other)."""
    return ours.hex() == float(theirs).hex() or (math.isnan(ours) and math.isnan(theirs))


def _points() -> list[float]:
    """Ordinary z values, the tails where ndtr underflows, signed zeros and infinities."""
    rng = np.random.default_rng(17)
    values = [*rng.normal(0.0, 3.0, 4000), *rng.uniform(-40.0, 40.0, 2000)]
    values += [0.0, -0.0, 1e-300, -1e-300, 8.0, -8.0, 38.5, -38.5, math.inf, -math.inf]
    return [float(v) for v in values]


def _probabilities() -> list[float]:
    rng = np.random.default_rng(18)
    values = [*rng.uniform(0.0, 1.0, 4000), *(10.0 ** -rng.uniform(1, 300, 1000))]
    values += [0.0, 1.0, 0.5, 0.975, 0.8, 0.95, 1 - 1e-16, 5e-324]
    return [float(v) for v in values]


def test_normal_tails_match_scipy_stats_bit_for_bit() -> None:
    points = _points()
    cdf, sf = scipy.stats.norm.cdf(points), scipy.stats.norm.sf(points)
    assert all(_same(norm_cdf(x), c) for x, c in zip(points, cdf, strict=True))
    assert all(_same(norm_sf(x), s) for x, s in zip(points, sf, strict=True))


def test_normal_quantile_matches_scipy_stats_bit_for_bit() -> None:
    probabilities = _probabilities()
    ppf = scipy.stats.norm.ppf(probabilities)
    assert all(_same(norm_ppf(q), z) for q, z in zip(probabilities, ppf, strict=True))
    # one by one too: scipy's scalar path is the one the statistics used to take
    assert all(_same(norm_ppf(q), scipy.stats.norm.ppf(q)) for q in probabilities[:200])


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99, 0.5, 0.8, 0.999])
def test_wilson_interval_matches_binomtest_for_every_count_up_to_40(confidence: float) -> None:
    for n in [*range(1, 41), 97, 1000, 4096, 99_999, 100_000]:
        for k in range(n + 1) if n <= 40 else (0, 1, 2, n // 3, n // 2, n - 1, n):
            theirs = scipy.stats.binomtest(k, n).proportion_ci(
                confidence_level=confidence, method="wilson"
            )
            low, high = wilson_interval(k, n, confidence)
            assert _same(low, theirs.low) and _same(high, theirs.high), (k, n, confidence)


@pytest.mark.parametrize(("k", "n"), [(-1, 3), (4, 3), (0, 0)])
def test_wilson_interval_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError, match=f"k={k}, n={n}"):
        wilson_interval(k, n, 0.95)
