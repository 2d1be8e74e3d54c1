"""Seeded simulation: how often does each verdict fire when nothing changed, and how
often does *better* fire when the candidate really is 0.45 better (the DPO guide's delta)?

Judge scores are drawn as a 0–4 judge gives them: each prompt has its own difficulty
(uniform 0.5–3.5 on the latent scale), each answer adds judge-and-model noise (sd 0.6),
and the score is rounded and clipped to 0–4, so most deltas are 0 or ±1 and many tie.
The candidate adds ``shift`` on the latent scale.

The verdict and the named gates run exactly as in a report. To stay fast the bootstrap
runs only where it can change the answer: *better* needs the exact one-sided p below
2.5% *and* the interval above 0, so where the exact test does not reject the verdict
cannot be *better* (the test checks that premise on a sample before relying on it).

Two figures per verdict. The Monte Carlo rate of the verdict itself, which carries
simulation noise (±0.4% at 1,500 runs), so it is asserted at or below nominal within
two standard errors. And the exact size of the test the verdict needs: for each
simulated pattern of tied and non-tied cases, the probability that the exact test
rejects, computed from its null distribution (no noise from the signs). The verdict's
rate cannot exceed it, and it is asserted at or below nominal outright.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.stats
from numpy.typing import NDArray

from deltajudge.gating.gates import noninferior
from deltajudge.gating.verdict import ALPHA, MIN_NONTIED, comparison_verdict
from deltajudge.stats.paired import compare_paired
from deltajudge.stats.wilcoxon import null_distribution, shifted_signed_rank, signed_rank

SIZES = (10, 20, 36, 50, 100)
NULL_RUNS = 1_500
NONINFERIOR_RUNS = 600
POWER_RUNS = 40
#: nominal level of each one-sided verdict (the two-sided 5% split in two)
NOMINAL = ALPHA / 2
#: fewer resamples than a report's 10,000: the interval's end moves in the third decimal
RESAMPLES = 2_000
#: two Monte Carlo standard errors of a rate at the nominal level
MC_SLACK = 2 * math.sqrt(NOMINAL * (1 - NOMINAL) / NULL_RUNS)


def draw(
    rng: np.random.Generator, n: int, shift: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    difficulty = rng.uniform(0.5, 3.5, n)
    base = np.clip(np.rint(difficulty + rng.normal(0.0, 0.6, n)), 0, 4)
    cand = np.clip(np.rint(difficulty + shift + rng.normal(0.0, 0.6, n)), 0, 4)
    return base, cand


@functools.cache
def _true_delta(shift: float) -> float:
    base, cand = draw(np.random.default_rng(7), 1_000_000, shift)
    return float(np.mean(cand - base))


def _outcome(base: NDArray[np.float64], cand: NDArray[np.float64], seed: int) -> str:
    paired = compare_paired(base.tolist(), cand.tolist(), seed=seed, resamples=RESAMPLES)
    return comparison_verdict(paired).outcome


def _exact_test(deltas: NDArray[np.float64]) -> tuple[float, float, float]:
    """The exact test's one-sided p-values and its size: P(it rejects at NOMINAL | which
    cases tied, and the magnitudes of the rest), from one null distribution."""
    nonzero = deltas[deltas != 0]
    if nonzero.size == 0:
        return 1.0, 1.0, 0.0
    doubled = np.rint(2 * scipy.stats.rankdata(np.abs(nonzero))).astype(np.int64)
    dist = null_distribution(doubled)
    upper = np.cumsum(dist[::-1])[::-1]  # P(W >= w); symmetric, so also the lower side
    observed = int(doubled[nonzero > 0].sum())
    below = upper[upper < NOMINAL]
    size = float(below.max()) if below.size and nonzero.size >= MIN_NONTIED else 0.0
    return float(upper[observed]), float(upper[doubled.sum() - observed]), size


def _null_rates(n: int) -> dict[str, float]:
    rng = np.random.default_rng(1_000 + n)
    counts = {"better": 0, "worse": 0, "insufficient evidence": 0}
    size = 0.0
    checked = 0
    for run in range(NULL_RUNS):
        base, cand = draw(rng, n, 0.0)
        p_better, p_worse, run_size = _exact_test(cand - base)
        size += run_size
        if min(p_better, p_worse) < NOMINAL:
            counts[_outcome(base, cand, run)] += 1
        elif checked < 25:  # the shortcut's premise, checked on a sample
            test = signed_rank(cand - base)
            assert test is None or (test.p_better, test.p_worse) == pytest.approx(
                (p_better, p_worse)
            )
            assert _outcome(base, cand, run) == "insufficient evidence"
            checked += 1
    return {
        "better": counts["better"] / NULL_RUNS,
        "worse": counts["worse"] / NULL_RUNS,
        "exact test size": size / NULL_RUNS,
    }


def _noninferior_rate(n: int, margin: float) -> float:
    """At a true delta of exactly −margin: how often does ``noninferior`` pass? It needs
    the shifted exact test to reject and the lower bound above −margin, which needs the
    mean above −margin (checked on a sample), so the bootstrap runs only then."""
    rng = np.random.default_rng(2_000 + n)
    passed = 0
    checked = 0
    for run in range(NONINFERIOR_RUNS):
        base, cand = draw(rng, n, -0.5)
        deltas = (cand - base).tolist()
        test = shifted_signed_rank(deltas, margin)
        if test is None or test.p_better >= NOMINAL:
            continue
        if np.mean(deltas) <= -margin and checked >= 25:
            continue
        paired = compare_paired(base.tolist(), cand.tolist(), seed=run, resamples=RESAMPLES)
        ok = noninferior(paired, deltas, margin)[1]
        if np.mean(deltas) <= -margin:
            assert not ok
            checked += 1
        passed += ok
    return passed / NONINFERIOR_RUNS


def _power(n: int) -> float:
    rng = np.random.default_rng(3_000 + n)
    hits = sum(_outcome(*draw(rng, n, 0.45), run) == "better" for run in range(POWER_RUNS))
    return hits / POWER_RUNS


@pytest.mark.parametrize("n", SIZES)
def test_false_positive_rates_stay_at_or_below_nominal(n: int) -> None:
    margin = -_true_delta(-0.5)  # the noninferiority null: true delta exactly −margin
    rates = _null_rates(n)
    rates["noninferior"] = _noninferior_rate(n, margin)
    rates["power(better at +0.45)"] = _power(n)
    print(f"n={n}: " + ", ".join(f"{k} {v:.1%}" for k, v in rates.items()))
    assert rates["exact test size"] <= NOMINAL
    assert rates["better"] <= NOMINAL + MC_SLACK
    assert rates["worse"] <= NOMINAL + MC_SLACK
    assert rates["noninferior"] <= NOMINAL + 2 * math.sqrt(
        NOMINAL * (1 - NOMINAL) / NONINFERIOR_RUNS
    )
    if n >= 50:  # 0.45 on a 0–4 scale is a large effect: 50 cases should find it
        assert rates["power(better at +0.45)"] >= 0.8


def test_an_identical_candidate_is_never_better() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 10, 36, 100):
        scores = np.clip(np.rint(rng.uniform(0, 4, n)), 0, 4)
        verdict = comparison_verdict(compare_paired(scores.tolist(), scores.tolist()))
        assert verdict.outcome == "insufficient evidence"
        assert f"0 of {n} cases changed" in verdict.reason
