"""One model on one grader: how good is it, and how sure are we.

These are the per-model rows of a report (n, mean, pass rate). The intervals are what
keep a reader from over-reading a mean of 3.1 vs 3.0 on forty cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deltajudge.constants import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from deltajudge.stats._arrays import as_flags, as_scores
from deltajudge.stats._bootstrap import mean_ci
from deltajudge.stats._special import wilson_interval


@dataclass(frozen=True)
class Summary:
    """A model's scores on one grader.

    ``std`` is the spread across cases (sample standard deviation, ddof=1): large
    means the model is good on some prompts and bad on others, which a mean hides.
    ``ci_low``/``ci_high`` bound the mean: if two models' intervals barely overlap,
    look at the paired comparison, which is far more sensitive than comparing these.
    Figures that need two or more cases are None below that.
    """

    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None


def summarize(
    scores: Sequence[float],
    *,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> Summary:
    """Mean, spread and a seeded bootstrap interval of the mean for one model."""
    values = as_scores(scores, "scores")
    n = int(values.size)
    if n == 0:
        return Summary(n=0, mean=None, std=None, ci_low=None, ci_high=None)
    low, high = mean_ci(values, seed=seed, resamples=resamples, confidence=confidence)
    return Summary(
        n=n,
        mean=float(np.mean(values)),
        std=float(np.std(values, ddof=1)) if n >= 2 else None,
        ci_low=low,
        ci_high=high,
    )


@dataclass(frozen=True)
class PassRate:
    """Share of cases at or above the grader's pass threshold.

    The Wilson interval stays inside [0, 1] and is honest at 0/n and n/n, where the
    textbook normal interval collapses to a width of zero: "10 of 10 passed" still
    only tells you the true rate is above about 0.72.
    """

    n: int
    passed: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


def pass_rate(passes: Sequence[bool], *, confidence: float = CONFIDENCE) -> PassRate:
    """Pass count, rate and Wilson interval (None throughout when there are no cases)."""
    flags = as_flags(passes, "passes")
    n = int(flags.size)
    passed = int(np.count_nonzero(flags))
    if n == 0:
        return PassRate(n=0, passed=0, rate=None, ci_low=None, ci_high=None)
    low, high = wilson_interval(passed, n, confidence)
    return PassRate(n=n, passed=passed, rate=passed / n, ci_low=low, ci_high=high)
