"""The statistics behind every report figure: hand-checked values, edge cases, coverage."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from deltajudge.stats.aggregates import PassRate, Summary, pass_rate, summarize
from deltajudge.stats.length import LengthEffect, length_effect
from deltajudge.stats.noise import JudgeNoise, judge_noise
from deltajudge.stats.paired import (
    McNemar,
    PairedComparison,
    compare_paired,
    mcnemar,
    regressions,
)
from deltajudge.stats.wilcoxon import EXACT_MAX_NONZERO, signed_rank

FAST = 2_000  # resamples where the exact interval does not matter


def assert_plain_json(result: Any) -> None:
    """Report figures must be plain floats, ints, None or a method name: no numpy, no NaN."""
    data = dataclasses.asdict(result)
    json.dumps(data, allow_nan=False)
    for key, value in data.items():
        assert value is None or type(value) in (int, float, str), (key, type(value))


# --- summarize / pass_rate -------------------------------------------------------


def test_summarize_hand_computed() -> None:
    result = summarize([1.0, 2.0, 3.0, 2.0])
    assert result.n == 4
    assert result.mean == pytest.approx(2.0)
    assert result.std == pytest.approx(math.sqrt(2.0 / 3.0))
    assert result.ci_low is not None and result.ci_high is not None
    assert 1.0 <= result.ci_low <= 2.0 <= result.ci_high <= 3.0
    assert_plain_json(result)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], Summary(n=0, mean=None, std=None, ci_low=None, ci_high=None)),
        ([3.0], Summary(n=1, mean=3.0, std=None, ci_low=None, ci_high=None)),
        ([2.0, 2.0, 2.0], Summary(n=3, mean=2.0, std=0.0, ci_low=2.0, ci_high=2.0)),
    ],
)
def test_summarize_small_and_constant(scores: list[float], expected: Summary) -> None:
    result = summarize(scores)
    assert result == expected
    assert_plain_json(result)


def test_pass_rate_matches_wilson_formula() -> None:
    passed, n = 3, 10
    z = scipy.stats.norm.ppf(0.975)
    p = passed / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    result = pass_rate([True] * passed + [False] * (n - passed))
    assert (result.n, result.passed, result.rate) == (10, 3, 0.3)
    assert result.ci_low == pytest.approx(centre - half)  # ≈ 0.1078
    assert result.ci_high == pytest.approx(centre + half)  # ≈ 0.6032
    assert_plain_json(result)


def test_pass_rate_all_passed_still_has_a_lower_bound() -> None:
    result = pass_rate([True] * 10)
    assert result.rate == 1.0 and result.ci_high == 1.0
    assert result.ci_low == pytest.approx(0.7225, abs=1e-4)


def test_pass_rate_empty() -> None:
    assert pass_rate([]) == PassRate(n=0, passed=0, rate=None, ci_low=None, ci_high=None)


# --- compare_paired ----------------------------------------------------------------


def test_compare_paired_hand_computed() -> None:
    result = compare_paired([1, 2, 3, 2], [2, 2, 4, 3])
    assert result.n == 4
    assert result.mean_delta == pytest.approx(0.75)
    assert (result.wins, result.ties, result.losses) == (3, 1, 0)
    # Three non-zero deltas, all positive: exact sign test p = 2 * 0.5**3.
    assert result.sign_test_p == pytest.approx(0.25)
    # Wilcoxon drops the tie; the three equal ranks are all positive: 2/8 sign patterns.
    assert result.p_value == pytest.approx(0.25)
    assert result.ci_low is not None and result.ci_high is not None
    assert 0.0 < result.ci_low <= 0.75 <= result.ci_high <= 1.0
    assert_plain_json(result)


def test_compare_paired_wilcoxon_matches_scipy_on_larger_sample() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(2.0, 1.0, 60)
    cand = base + rng.normal(0.3, 1.0, 60)
    result = compare_paired(base.tolist(), cand.tolist(), resamples=FAST)
    expected = scipy.stats.wilcoxon(cand - base, zero_method="wilcox", method="exact")
    assert result.p_value == pytest.approx(float(expected.pvalue))
    assert result.wilcoxon_method == "exact"
    assert result.mean_delta == pytest.approx(float(np.mean(cand - base)))


def test_float_noise_counts_as_a_tie() -> None:
    result = compare_paired([0.3, 1.0, 2.0], [0.1 + 0.2, 2.0, 3.0])
    assert (result.wins, result.ties, result.losses) == (2, 1, 0)


@pytest.mark.parametrize(
    ("baseline", "candidate", "expected"),
    [
        ([], [], PairedComparison(0, None, None, None, None, None, 0, 0, 0)),
        # One win: the exact one-sided p is 1/2, so the two-sided p is 1.
        (
            [1.0],
            [3.0],
            PairedComparison(1, 2.0, None, None, 1.0, 1.0, 1, 0, 0, 0.5, 1.0, "exact"),
        ),
        ([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], PairedComparison(3, 0.0, 0.0, 0.0, None, None, 0, 3, 0)),
        # Three equal wins: one sign pattern of 8 is as extreme, p_better = 1/8.
        (
            [1.0, 2.0, 3.0],
            [2.0, 3.0, 4.0],
            PairedComparison(3, 1.0, 1.0, 1.0, 0.25, 0.25, 3, 0, 0, 0.125, 1.0, "exact"),
        ),
    ],
    ids=["empty", "one-case", "all-ties", "constant-delta"],
)
def test_compare_paired_edge_cases(
    baseline: list[float], candidate: list[float], expected: PairedComparison
) -> None:
    result = compare_paired(baseline, candidate)
    assert result == expected
    assert_plain_json(result)


def test_compare_paired_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="pair them by case id"):
        compare_paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        compare_paired([1.0, float("nan")], [1.0, 2.0])


def test_bootstrap_is_reproducible_for_a_seed() -> None:
    rng = np.random.default_rng(7)
    base_scores = rng.integers(0, 5, 50)
    base: list[float] = base_scores.astype(float).tolist()
    cand: list[float] = np.clip(base_scores + rng.integers(-1, 3, 50), 0, 4).astype(float).tolist()
    first = compare_paired(base, cand, seed=123, resamples=FAST)
    again = compare_paired(base, cand, seed=123, resamples=FAST)
    assert first == again
    others = {
        (r.ci_low, r.ci_high)
        for r in (compare_paired(base, cand, seed=s, resamples=FAST) for s in range(1, 6))
    }
    assert len(others) > 1, "different seeds should be able to move the interval"
    assert summarize(cand, seed=5) == summarize(cand, seed=5)


def test_paired_ci_covers_true_delta_at_nominal_rate() -> None:
    """Over many synthetic runs, the 95% interval should contain the truth about 95% of the time."""
    true_delta, n, runs = 0.3, 40, 200
    covered = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        base = rng.normal(2.0, 1.0, n)
        cand = base + rng.normal(true_delta, 1.0, n)
        result = compare_paired(base.tolist(), cand.tolist(), seed=seed, resamples=FAST)
        assert result.ci_low is not None and result.ci_high is not None
        covered += result.ci_low <= true_delta <= result.ci_high
    assert 0.90 <= covered / runs <= 0.99


judge_scores = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4)).map(lambda t: (float(t[0]), float(t[1]))),
    min_size=2,
    max_size=60,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(judge_scores, st.integers(0, 2**32 - 1))
def test_compare_paired_invariants(pairs: list[tuple[float, float]], seed: int) -> None:
    baseline = [b for b, _ in pairs]
    candidate = [c for _, c in pairs]
    result = compare_paired(baseline, candidate, seed=seed, resamples=500)
    assert result.wins + result.ties + result.losses == result.n == len(pairs)
    assert result.mean_delta is not None
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= result.mean_delta + 1e-12
    assert result.mean_delta <= result.ci_high + 1e-12
    for p in (result.p_value, result.sign_test_p):
        assert p is None or 0.0 <= p <= 1.0
    assert (result.p_value is None) == (result.wins + result.losses == 0)
    assert_plain_json(result)


# --- mcnemar / regressions -----------------------------------------------------------


def test_mcnemar_counts_flips_and_matches_binomtest() -> None:
    baseline = [True, True, False, False, False, True]
    candidate = [True, False, True, True, True, True]
    result = mcnemar(baseline, candidate)
    assert (result.fixed, result.broken) == (3, 1)
    assert result.p_value == pytest.approx(10 / 16)  # P(X<=1 or X>=3), X ~ Bin(4, 1/2)
    assert result.p_value == pytest.approx(scipy.stats.binomtest(3, 4).pvalue)


def test_mcnemar_without_flips() -> None:
    assert mcnemar([True, False], [True, False]) == McNemar(fixed=0, broken=0, p_value=None)
    assert mcnemar([], []) == McNemar(fixed=0, broken=0, p_value=None)


def test_regressions_worst_first_beyond_tolerance() -> None:
    found = regressions(["a", "b", "c", "d", "e"], [3, 4, 2, 3, 1], [2, 2, 2, 2.5, 4], min_drop=0.5)
    assert found == [("b", -2.0), ("a", -1.0)]
    assert regressions(["a"], [3.0], [2.0], min_drop=0.0) == [("a", -1.0)]
    assert regressions([], [], [], min_drop=0.0) == []
    with pytest.raises(ValueError):
        regressions(["a", "b"], [1.0], [1.0], min_drop=0.0)


def test_a_one_step_drop_counts_on_an_integer_scale() -> None:
    """17 of 20 cases fell from 2 to 1: a one-step rule (inclusive) counts all 17; the
    old strict "> 1.0" tolerance counted none."""
    ids = [f"c{i}" for i in range(20)]
    base, cand = [2.0] * 20, [1.0] * 17 + [2.0] * 3
    assert len(regressions(ids, base, cand, min_drop=1.0, inclusive=True)) == 17
    assert regressions(ids, base, cand, min_drop=1.0) == []


def test_a_fall_from_pass_to_fail_counts_whatever_the_drop() -> None:
    base, cand = [2.1, 3.0, 1.9], [1.9, 2.8, 1.0]
    passes = ([b >= 2.0 for b in base], [c >= 2.0 for c in cand])
    found = regressions(["a", "b", "c"], base, cand, min_drop=0.5, passes=passes)
    # a crossed the threshold (2.1 -> 1.9); b dropped 0.2 but still passes; c dropped 0.9.
    assert found == [("c", pytest.approx(-0.9)), ("a", pytest.approx(-0.2))]


# --- length_effect ----------------------------------------------------------------------


def test_length_effect_recovers_a_known_line() -> None:
    base_len = [100, 200, 300, 400, 500]
    cand_len = [150, 150, 500, 400, 700]
    length_delta = np.subtract(cand_len, base_len)
    base = [1.0, 2.0, 2.0, 3.0, 3.0]
    cand = [b + 0.5 + 0.01 * d for b, d in zip(base, length_delta, strict=True)]
    result = length_effect(base, cand, base_len, cand_len)
    assert result.adjusted_delta == pytest.approx(0.5)
    assert result.slope_per_100_chars == pytest.approx(1.0)
    assert result.baseline_mean_len == pytest.approx(300.0)
    assert result.candidate_mean_len == pytest.approx(380.0)
    assert result.baseline_corr == pytest.approx(scipy.stats.spearmanr(base_len, base).statistic)
    assert result.candidate_corr == pytest.approx(scipy.stats.spearmanr(cand_len, cand).statistic)
    assert_plain_json(result)


def test_length_effect_constant_inputs_give_none() -> None:
    result = length_effect([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], [100, 100, 100], [120, 120, 120])
    assert result == LengthEffect(100.0, 120.0, None, None, None, None)
    assert_plain_json(result)


def test_length_effect_too_few_cases() -> None:
    assert length_effect([], [], [], []) == LengthEffect(None, None, None, None, None, None)
    two = length_effect([1.0, 2.0], [2.0, 3.0], [10, 20], [30, 10])
    assert (two.baseline_corr, two.adjusted_delta) == (None, None)


# --- judge_noise --------------------------------------------------------------------------


def test_judge_noise_hand_computed() -> None:
    result = judge_noise([[1, 2, 1], [3, 3, 4], [2]], n_cases=100)
    assert (result.answers, result.repeats) == (2, 3)  # the single judgment says nothing
    assert result.within_sd == pytest.approx(math.sqrt(1 / 3))
    # (1.959964 + 0.841621) * sqrt(2) * sqrt(1/3) / sqrt(100)
    assert result.min_detectable_delta == pytest.approx(0.2287485, rel=1e-6)
    assert_plain_json(result)


def test_judge_noise_pools_ragged_repeats_by_degrees_of_freedom() -> None:
    groups = [[1.0, 3.0], [2.0, 2.0, 2.0, 2.0]]  # variances 2 (1 dof) and 0 (3 dof)
    result = judge_noise(groups, n_cases=10)
    assert result.within_sd == pytest.approx(math.sqrt(2 / 4))
    assert result.repeats == 2


def test_judge_noise_without_repeats() -> None:
    assert judge_noise([[1.0], [2.0]], n_cases=50) == JudgeNoise(0, 0, None, None)
    steady = judge_noise([[2.0, 2.0]], n_cases=0)
    assert steady.within_sd == 0.0 and steady.min_detectable_delta is None


# --- the exact Wilcoxon signed-rank test -------------------------------------------------


@pytest.mark.parametrize("n", [4, 9, 17, 30])
def test_exact_wilcoxon_matches_scipy_without_ties_or_zeros(n: int) -> None:
    rng = np.random.default_rng(n)
    deltas = rng.permutation(np.arange(1, n + 1)) * rng.choice([-1.0, 1.0], n) + 0.25
    found = signed_rank(deltas)
    assert found is not None and found.method == "exact" and found.nonzero == n
    for alternative, value in (
        ("two-sided", found.p_value),
        ("greater", found.p_better),
        ("less", found.p_worse),
    ):
        expected = scipy.stats.wilcoxon(deltas, method="exact", alternative=alternative)
        assert value == pytest.approx(float(expected.pvalue), rel=1e-12)


def _brute_force(deltas: list[float]) -> tuple[float, float]:
    """Every sign pattern of the non-zero deltas, mid-ranks, counted one by one."""
    nonzero = np.array([d for d in deltas if d != 0])
    ranks = scipy.stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    sums = np.array(
        [ranks[list(signs)].sum() for signs in itertools.product([False, True], repeat=ranks.size)]
    )
    return float(np.mean(sums >= observed - 1e-9)), float(np.mean(sums <= observed + 1e-9))


@pytest.mark.parametrize(
    "deltas",
    [
        [1, 1, 1, 1] + [0] * 32,  # 4 wins, 32 ties: scipy's normal approximation said 0.046
        [1, 1, 1, -1, 2, 2, -2, 3, 0, 0, -0.5],
        [1, -1, 1, -1, 1, 1, 2, -2, 2, 2, 0, 0, 0, 3, -3, 1],
        [2, 2, 2, 2, 2, 2, -1, 0, 0],
    ],
)
def test_exact_wilcoxon_on_tied_data_matches_brute_force(deltas: list[float]) -> None:
    found = signed_rank(np.asarray(deltas, dtype=np.float64))
    assert found is not None and found.method == "exact"
    better, worse = _brute_force(deltas)
    assert (found.p_better, found.p_worse) == pytest.approx((better, worse), rel=1e-12)
    assert found.p_value == pytest.approx(min(1.0, 2 * min(better, worse)), rel=1e-12)


def test_four_wins_among_32_ties_is_not_significant() -> None:
    result = compare_paired([2.0] * 36, [3.0] * 4 + [2.0] * 32)
    assert result.p_value == pytest.approx(0.125)
    assert (result.p_better, result.p_worse) == (pytest.approx(0.0625), 1.0)
    assert result.zero_method == "wilcox"


def test_the_same_wins_give_the_same_p_whatever_the_number_of_ties() -> None:
    """scipy counted the zeros when choosing its method: 5 wins gave 0.0625 at n = 13
    and 0.025 at n = 14. Conditional on the non-zero deltas they are the same test."""
    p = {n: compare_paired([0.0] * n, [1.0] * 5 + [0.0] * (n - 5)).p_value for n in (13, 14, 40)}
    assert p == {13: pytest.approx(0.0625), 14: pytest.approx(0.0625), 40: pytest.approx(0.0625)}


def test_above_the_exact_limit_the_normal_approximation_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    deltas = rng.integers(-2, 3, EXACT_MAX_NONZERO + 200).astype(np.float64) + 0.5
    found = signed_rank(deltas)
    assert found is not None and found.method == "normal"
    expected = scipy.stats.wilcoxon(deltas, method="approx", correction=True)
    assert found.p_value == pytest.approx(float(expected.pvalue), rel=1e-9)
    # and at the limit, exact and normal agree closely
    at_limit = deltas[:EXACT_MAX_NONZERO]
    exact = signed_rank(at_limit)
    approx = scipy.stats.wilcoxon(at_limit, method="approx", correction=True)
    assert exact is not None and exact.method == "exact"
    assert exact.p_value == pytest.approx(float(approx.pvalue), abs=2e-3)


def test_power_of_the_observed_delta() -> None:
    """Deltas with mean 0.5 and sd 1 over 36 cases: effect 0.5·6 = 3 standard errors,
    power Φ(3 − 1.96) + Φ(−3 − 1.96) ≈ 0.85. No spread, no power figure."""
    deltas = np.array([1.5, -0.5] * 18)
    found = compare_paired([0.0] * 36, deltas.tolist(), resamples=FAST)
    shift = 0.5 * 6 / float(np.std(deltas, ddof=1))
    expected = scipy.stats.norm.sf(1.959964 - shift) + scipy.stats.norm.cdf(-1.959964 - shift)
    assert found.power == pytest.approx(float(expected), rel=1e-5)
    assert compare_paired([0.0] * 36, [1.0] * 36).power is None


def test_the_length_adjusted_delta_comes_with_its_interval() -> None:
    rng = np.random.default_rng(11)
    base_len = rng.integers(200, 600, 36)
    cand_len = base_len + rng.integers(-50, 300, 36)
    base = rng.integers(0, 5, 36).astype(float)
    cand = np.clip(base + rng.integers(-1, 2, 36), 0, 4)
    found = length_effect(base, cand, base_len, cand_len)
    assert found.adjusted_delta is not None
    assert found.adjusted_ci_low is not None and found.adjusted_ci_high is not None
    assert found.adjusted_ci_low < found.adjusted_delta < found.adjusted_ci_high
    # wider than the plain delta's interval: the intercept is the noisier figure
    plain = compare_paired(base.tolist(), cand.tolist())
    assert plain.ci_low is not None and plain.ci_high is not None
    adjusted_width = found.adjusted_ci_high - found.adjusted_ci_low
    assert adjusted_width > 1.5 * (plain.ci_high - plain.ci_low)
