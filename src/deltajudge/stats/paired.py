"""Candidate against baseline, case by case: is the change real, and what broke.

Both models answered the same prompts, so every figure here works on per-case
differences. Pairing removes the prompt-to-prompt spread (some prompts are just hard),
which is why a paired interval is much narrower than comparing two per-model means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats
from numpy.typing import NDArray

from deltajudge.constants import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from deltajudge.stats._arrays import as_flags, as_scores, deltas, optional_float, same_length
from deltajudge.stats._bootstrap import mean_ci


@dataclass(frozen=True)
class PairedComparison:
    """The delta of one candidate over the baseline on one grader.

    ``mean_delta`` is the headline (OpenAI's DPO guide reports "Δ mean = 0.45").
    ``ci_low``/``ci_high`` say whether it could be noise: an interval that excludes 0
    is a change the same prompts would most likely show again. ``p_value`` (Wilcoxon
    signed-rank) and ``sign_test_p`` answer "did cases move up more than down", the
    sign test with no assumption about how far they moved. ``wins``/``ties``/``losses``
    show whether a small mean hides many cases moving both ways.
    """

    n: int
    mean_delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    sign_test_p: float | None
    wins: int
    ties: int
    losses: int

    @property
    def win_rate(self) -> float | None:
        """Share of cases the candidate won outright (ties count as not won)."""
        return self.wins / self.n if self.n else None


def compare_paired(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> PairedComparison:
    """Mean delta, its paired bootstrap interval, and two paired tests.

    The interval resamples cases (each case keeps its own baseline and candidate score),
    seeded so the same results always print the same interval.

    The Wilcoxon test uses ``zero_method="wilcox"``: tied cases are set aside, as the
    sign test does, and are reported as ``ties`` instead. On a 0–4 judge scale most
    cases often tie; folding them into the ranks ("zsplit") would dilute a consistent
    direction among the cases that did change. ``p_value`` is None with fewer than two
    cases or when every case tied: there is no change whose direction could be tested.
    ``sign_test_p`` is None when no case changed.
    """
    base = as_scores(baseline, "baseline")
    cand = as_scores(candidate, "candidate")
    same_length(base, cand, "compare_paired")
    diff = deltas(base, cand)
    n = int(diff.size)
    wins = int(np.count_nonzero(diff > 0))
    losses = int(np.count_nonzero(diff < 0))
    low, high = mean_ci(diff, seed=seed, resamples=resamples, confidence=confidence)
    return PairedComparison(
        n=n,
        mean_delta=float(np.mean(diff)) if n else None,
        ci_low=low,
        ci_high=high,
        p_value=_wilcoxon_p(diff),
        sign_test_p=_sign_test_p(wins, losses),
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
    )


def _wilcoxon_p(diff: NDArray[np.float64]) -> float | None:
    if diff.size < 2 or not np.any(diff):
        return None
    result = scipy.stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return optional_float(result.pvalue)


def _sign_test_p(wins: int, losses: int) -> float | None:
    if wins + losses == 0:
        return None
    return float(scipy.stats.binomtest(wins, wins + losses, 0.5).pvalue)


@dataclass(frozen=True)
class McNemar:
    """Pass/fail flips between baseline and candidate.

    A stable pass rate can hide churn: ten cases fixed and ten broken. ``fixed`` and
    ``broken`` show it; ``p_value`` (exact McNemar) says whether fixes outnumber breaks
    by more than chance. Cases that passed or failed on both sides say nothing about
    the change and are left out. None when nothing flipped.
    """

    fixed: int
    broken: int
    p_value: float | None


def mcnemar(baseline_pass: Sequence[bool], candidate_pass: Sequence[bool]) -> McNemar:
    """Exact McNemar test: a two-sided binomial test of fixed against broken."""
    base = as_flags(baseline_pass, "baseline_pass")
    cand = as_flags(candidate_pass, "candidate_pass")
    same_length(base, cand, "mcnemar")
    fixed = int(np.count_nonzero(~base & cand))
    broken = int(np.count_nonzero(base & ~cand))
    return McNemar(fixed=fixed, broken=broken, p_value=_sign_test_p(fixed, broken))


def regressions(
    case_ids: Sequence[str],
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    tolerance: float,
) -> list[tuple[str, float]]:
    """Cases the candidate made worse by more than ``tolerance``, worst first.

    This is the "did it break anything" list a reviewer reads before trusting a
    positive mean. Equal drops keep the order the cases were given in.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    base = as_scores(baseline, "baseline")
    cand = as_scores(candidate, "candidate")
    same_length(base, cand, "regressions")
    if len(case_ids) != base.size:
        raise ValueError(f"regressions: {len(case_ids)} case ids for {base.size} score pairs")
    diff = deltas(base, cand)
    worse = [
        (case_id, float(d)) for case_id, d in zip(case_ids, diff, strict=True) if d < -tolerance
    ]
    return sorted(worse, key=lambda item: item[1])
