"""How much does the judge disagree with itself?

Judging the same answer several times gives different scores. That noise sets a floor
under every delta: a change smaller than the judge's own wobble cannot be seen with
this many cases, however real it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deltajudge.stats._arrays import as_scores
from deltajudge.stats._special import norm_ppf


@dataclass(frozen=True)
class JudgeNoise:
    """The judge's repeatability and the smallest delta it lets you detect.

    ``answers`` counts the answers judged at least twice (only those tell us anything);
    ``repeats`` is the fewest judgments any of them got (every answer had at least
    this many). ``within_sd`` is the pooled within-answer standard deviation of the
    judge's scores: how far one judgment of the same answer strays.

    ``min_detectable_delta`` is the smallest true mean delta that a paired run over
    ``n_cases`` cases would detect with the requested power, counting judge noise only:

        (z[1 − alpha/2] + z[power]) · √2 · within_sd / √n_cases

    √2 because each case's delta carries the noise of two judgments. Real runs also
    have the models' own variation per case, so treat this as a lower bound: if the
    delta you hope to see is below it, add cases or make the judge steadier first.
    """

    answers: int
    repeats: int
    within_sd: float | None
    min_detectable_delta: float | None


def judge_noise(
    repeated_scores: Sequence[Sequence[float]],
    *,
    n_cases: int,
    alpha: float = 0.05,
    power: float = 0.8,
) -> JudgeNoise:
    """Pooled judge noise from repeated judgments of the same answers.

    ``repeated_scores[i]`` holds every score the judge gave answer ``i``; the lists may
    differ in length (a repeat that errored is simply missing). Variances are pooled
    weighted by their degrees of freedom (k − 1); with equal repeats per answer that is
    the plain mean of the per-answer sample variances.
    """
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha} and {power}")
    groups = [
        as_scores(scores, f"repeated_scores[{i}]") for i, scores in enumerate(repeated_scores)
    ]
    usable = [group for group in groups if group.size >= 2]
    if not usable:
        return JudgeNoise(answers=0, repeats=0, within_sd=None, min_detectable_delta=None)
    dof = np.array([group.size - 1 for group in usable], dtype=np.float64)
    variances = np.array([np.var(group, ddof=1) for group in usable])
    within_sd = float(np.sqrt(np.sum(dof * variances) / np.sum(dof)))
    return JudgeNoise(
        answers=len(usable),
        repeats=min(group.size for group in usable),
        within_sd=within_sd,
        min_detectable_delta=_min_detectable_delta(within_sd, n_cases, alpha, power),
    )


def _min_detectable_delta(sd: float, n_cases: int, alpha: float, power: float) -> float | None:
    if n_cases < 1:
        return None
    z = norm_ppf(1.0 - alpha / 2.0) + norm_ppf(power)
    return float(z * np.sqrt(2.0) * sd / np.sqrt(n_cases))
