"""Is the gain just longer answers?

LLM judges are known to favour longer responses. A fine-tune that learned to write
more can look better without being better; these figures let a reader check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from deltajudge.constants import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from deltajudge.stats._arrays import as_scores, optional_float, same_length
from deltajudge.stats._bootstrap import paired_statistic_ci

#: Fewer cases than this and a correlation or a regression line is not worth printing.
_MIN_CASES = 3


@dataclass(frozen=True)
class LengthEffect:
    """How answer length relates to score, and what the delta is at equal length.

    ``*_corr`` is Spearman's rank correlation of length (characters) against score
    for each model: a strong positive value means this judge rewards length.
    ``adjusted_delta`` is the intercept of a line through (length delta, score delta)
    over cases: the score delta the candidate would show if it answered at the same
    length as the baseline. If the plain mean delta is clearly positive and this is
    near zero, the improvement is mostly length. ``slope_per_100_chars`` is the score
    change per extra 100 characters. ``adjusted_ci_low``/``adjusted_ci_high`` are its
    seeded 95% paired bootstrap interval: an intercept is much noisier than a mean (at
    n = 36 about 2.8 times), so the adjusted delta is never shown without it.
    Correlations and the line need at least three cases and some variation in their
    input; otherwise they are None.
    """

    baseline_mean_len: float | None
    candidate_mean_len: float | None
    baseline_corr: float | None
    candidate_corr: float | None
    adjusted_delta: float | None
    slope_per_100_chars: float | None
    adjusted_ci_low: float | None = None
    adjusted_ci_high: float | None = None


def length_effect(
    baseline_scores: Sequence[float],
    candidate_scores: Sequence[float],
    baseline_lengths: Sequence[int],
    candidate_lengths: Sequence[int],
) -> LengthEffect:
    """Length-vs-score correlations per model and the length-adjusted delta."""
    base = as_scores(baseline_scores, "baseline_scores")
    cand = as_scores(candidate_scores, "candidate_scores")
    base_len = as_scores(baseline_lengths, "baseline_lengths")
    cand_len = as_scores(candidate_lengths, "candidate_lengths")
    for other, name in ((cand, "scores"), (base_len, "lengths"), (cand_len, "lengths")):
        same_length(base, other, f"length_effect {name}")
    length_delta, score_delta = cand_len - base_len, cand - base
    adjusted, slope = _adjusted_delta(length_delta, score_delta)
    low, high = (None, None)
    if adjusted is not None:
        low, high = paired_statistic_ci(
            length_delta,
            score_delta,
            _intercept,
            seed=BOOTSTRAP_SEED,
            resamples=BOOTSTRAP_RESAMPLES,
            confidence=CONFIDENCE,
        )
    return LengthEffect(
        baseline_mean_len=float(np.mean(base_len)) if base_len.size else None,
        candidate_mean_len=float(np.mean(cand_len)) if cand_len.size else None,
        baseline_corr=_spearman(base_len, base),
        candidate_corr=_spearman(cand_len, cand),
        adjusted_delta=adjusted,
        slope_per_100_chars=slope,
        adjusted_ci_low=low,
        adjusted_ci_high=high,
    )


def _varies(values: NDArray[np.float64]) -> bool:
    return values.size >= _MIN_CASES and bool(np.ptp(values) > 0.0)


def _spearman(lengths: NDArray[np.float64], scores: NDArray[np.float64]) -> float | None:
    if not (_varies(lengths) and _varies(scores)):
        return None
    import scipy.stats  # here: below _MIN_CASES varying cases it is never needed

    return optional_float(scipy.stats.spearmanr(lengths, scores).statistic)


def _adjusted_delta(
    length_delta: NDArray[np.float64], score_delta: NDArray[np.float64]
) -> tuple[float | None, float | None]:
    if not _varies(length_delta):
        return None, None
    import scipy.stats  # here: below _MIN_CASES varying cases it is never needed

    line = scipy.stats.linregress(length_delta, score_delta)
    return optional_float(line.intercept), optional_float(line.slope * 100.0)


def _intercept(
    length_delta: NDArray[np.float64], score_delta: NDArray[np.float64], axis: int = -1
) -> NDArray[np.float64]:
    """Least-squares intercept per row (NaN where a resample has no length variation)."""
    x_mean = length_delta.mean(axis=axis, keepdims=True)
    y_mean = score_delta.mean(axis=axis, keepdims=True)
    x_dev = length_delta - x_mean
    sxx = np.sum(x_dev**2, axis=axis, keepdims=True)
    sxy = np.sum(x_dev * (score_delta - y_mean), axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0.0, sxy / np.where(sxx > 0.0, sxx, 1.0), np.nan)
    return np.asarray(np.squeeze(y_mean - slope * x_mean, axis=axis), dtype=np.float64)
