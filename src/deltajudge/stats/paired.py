"""Candidate against baseline, case by case: is the change real, and what broke.

Both models answered the same prompts, so every figure here works on per-case
differences. Pairing removes the prompt-to-prompt spread (some prompts are just hard),
which is why a paired interval is much narrower than comparing two per-model means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from deltajudge.constants import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from deltajudge.stats._arrays import TIE_TOLERANCE, as_flags, as_scores, deltas, same_length
from deltajudge.stats._bootstrap import mean_ci
from deltajudge.stats._special import norm_cdf, norm_ppf, norm_sf
from deltajudge.stats.wilcoxon import ZERO_METHOD, signed_rank


@dataclass(frozen=True)
class PairedComparison:
    """The delta of one candidate over the baseline on one grader.

    ``mean_delta`` is the headline (OpenAI's DPO guide reports "Δ mean = 0.45").
    ``ci_low``/``ci_high`` say whether it could be noise: an interval that excludes 0
    is a change the same prompts would most likely show again. ``p_value`` (Wilcoxon
    signed-rank, two-sided) and ``sign_test_p`` (two-sided) answer "did cases move up
    more than down", the sign test with no assumption about how far they moved.
    ``p_better`` and ``p_worse`` are the two one-sided Wilcoxon p-values: a small
    ``p_better`` is evidence the candidate is better, never that it is worse.
    ``wilcoxon_method`` says whether they are exact or the normal approximation;
    ``zero_method`` how tied cases were treated (``wilcox``: set aside).
    ``wins``/``ties``/``losses`` show whether a small mean hides cases moving both ways.
    ``power`` is the chance a paired test at the 5% level detects a true delta as large
    as the observed one with this many cases and this spread of deltas (normal
    approximation): low power next to "insufficient evidence" says "add cases".
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
    p_better: float | None = None
    p_worse: float | None = None
    wilcoxon_method: str | None = None
    zero_method: str = ZERO_METHOD
    power: float | None = None

    @property
    def win_rate(self) -> float | None:
        """Share of cases the candidate won outright (ties count as not won)."""
        return self.wins / self.n if self.n else None

    @property
    def nontied(self) -> int:
        """Cases that moved at all: the only ones that say anything about direction."""
        return self.wins + self.losses


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

    The Wilcoxon test (`deltajudge.stats.wilcoxon`) is conditional on the cases that
    changed (``zero_method="wilcox"``): tied cases are set aside, as the sign test does,
    and are reported as ``ties`` instead. On a 0–4 judge scale most cases often tie;
    folding them into the ranks ("zsplit") would dilute a consistent direction among the
    cases that did change. The p-values are None when every case tied: there is no
    change whose direction could be tested.
    """
    base = as_scores(baseline, "baseline")
    cand = as_scores(candidate, "candidate")
    same_length(base, cand, "compare_paired")
    diff = deltas(base, cand)
    n = int(diff.size)
    wins = int(np.count_nonzero(diff > 0))
    losses = int(np.count_nonzero(diff < 0))
    low, high = mean_ci(diff, seed=seed, resamples=resamples, confidence=confidence)
    test = signed_rank(diff)
    mean = float(np.mean(diff)) if n else None
    return PairedComparison(
        n=n,
        mean_delta=mean,
        ci_low=low,
        ci_high=high,
        p_value=test.p_value if test else None,
        sign_test_p=_sign_test_p(wins, losses),
        wins=wins,
        ties=n - wins - losses,
        losses=losses,
        p_better=test.p_better if test else None,
        p_worse=test.p_worse if test else None,
        wilcoxon_method=test.method if test else None,
        power=_power(diff, mean, confidence),
    )


def _power(diff: NDArray[np.float64], mean: float | None, confidence: float) -> float | None:
    """Two-sided power at the observed effect size |mean| / sd (normal approximation).

    None below two cases or with no spread: with every delta equal there is no estimate
    of the noise, and a power of 1 would claim what 36 identical ties cannot show.
    """
    if mean is None or diff.size < 2:
        return None
    sd = float(np.std(diff, ddof=1))
    if sd == 0.0:
        return None
    shift = abs(mean) * np.sqrt(diff.size) / sd
    z = norm_ppf(0.5 + confidence / 2.0)
    return norm_sf(z - shift) + norm_cdf(-z - shift)


def _sign_test_p(wins: int, losses: int) -> float | None:
    if wins + losses == 0:
        return None
    import scipy.stats  # here: a run where no case moved never pays for importing it

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
    min_drop: float,
    inclusive: bool = False,
    passes: tuple[Sequence[bool], Sequence[bool]] | None = None,
) -> list[tuple[str, float]]:
    """Cases the candidate made worse, worst first.

    A case regresses when its drop reaches ``min_drop`` (``>=`` when ``inclusive``,
    else ``>``), or, given ``passes`` (baseline's and candidate's pass flags), when it
    passed on the baseline and fails on the candidate. This is the "did it break
    anything" list a reviewer reads before trusting a positive mean. Equal drops keep
    the order the cases were given in.
    """
    if min_drop < 0:
        raise ValueError(f"min_drop must be >= 0, got {min_drop}")
    base = as_scores(baseline, "baseline")
    cand = as_scores(candidate, "candidate")
    same_length(base, cand, "regressions")
    if len(case_ids) != base.size:
        raise ValueError(f"regressions: {len(case_ids)} case ids for {base.size} score pairs")
    diff = deltas(base, cand)
    drop = -diff
    hit = drop >= min_drop - TIE_TOLERANCE if inclusive else drop > min_drop + TIE_TOLERANCE
    if passes is not None:
        base_pass, cand_pass = as_flags(passes[0], "passes"), as_flags(passes[1], "passes")
        same_length(base, base_pass, "regressions passes")
        same_length(base, cand_pass, "regressions passes")
        hit |= base_pass & ~cand_pass
    hit &= diff < 0
    worse = [(case_id, float(d)) for case_id, d, h in zip(case_ids, diff, hit, strict=True) if h]
    return sorted(worse, key=lambda item: item[1])
