"""Does a judge agree with labelled preferences, and better than the length of the answers?

A preference file says which answer is better. A judge worth its cost agrees with those
labels significantly more often than chance, and more often than "pick the longer
answer", a heuristic that scores well on most preference data for no good reason (in the
bundled Good Vibes pairs the preferred answer is always the longer one). Both are exact
tests on counts: a binomial test against 1/2, and McNemar's exact test on the pairs where
the judge and the length heuristic disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from deltajudge.constants import CONFIDENCE

#: Below this p-value a judge "beats" chance or the length heuristic.
ALPHA = 0.05


@dataclass(frozen=True)
class Agreement:
    """Agreement with the labels over decided pairs (ties are counted, not decided)."""

    agree: int
    disagree: int
    ties: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    #: One-sided binomial test: P(this many agreements or more | a coin).
    p_vs_chance: float | None

    @property
    def decided(self) -> int:
        return self.agree + self.disagree


def agreement(outcomes: Sequence[int]) -> Agreement:
    """``outcomes``: +1 agrees with the label, 0 a tie, -1 disagrees."""
    import scipy.stats  # here: results files read this module's classes at collection

    agree = sum(1 for o in outcomes if o > 0)
    disagree = sum(1 for o in outcomes if o < 0)
    ties = len(outcomes) - agree - disagree
    if agree + disagree == 0:
        return Agreement(agree, disagree, ties, None, None, None, None)
    n = agree + disagree
    test = scipy.stats.binomtest(agree, n, 0.5, alternative="greater")
    # the interval is two-sided; a one-sided test's interval would run to 100%
    interval = scipy.stats.binomtest(agree, n).proportion_ci(
        confidence_level=CONFIDENCE, method="wilson"
    )
    return Agreement(
        agree,
        disagree,
        ties,
        agree / n,
        float(interval.low),
        float(interval.high),
        float(test.pvalue),
    )


@dataclass(frozen=True)
class JudgeValidation:
    judge: Agreement
    #: What "pick the longer answer" alone scores on the same pairs.
    length: Agreement
    #: The judge on the pairs whose preferred answer is the shorter one.
    judge_when_preferred_shorter: Agreement
    #: McNemar's exact test, one-sided: the judge is right more often than length.
    p_vs_length: float | None
    errors: int
    reasons: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


def validate_judge(
    judge: Sequence[int | None], preferred_chars: Sequence[int], rejected_chars: Sequence[int]
) -> JudgeValidation:
    """``judge[i]``: +1/0/-1 as in `agreement`, None when it could not judge pair i."""
    import scipy.stats

    scored = [i for i, o in enumerate(judge) if o is not None]
    verdicts = [judge[i] or 0 for i in scored]
    longer = [_sign(preferred_chars[i] - rejected_chars[i]) for i in scored]
    shorter = [v for v, size in zip(verdicts, longer, strict=True) if size < 0]
    judge_right = sum(1 for v, s in zip(verdicts, longer, strict=True) if v > 0 and s <= 0)
    length_right = sum(1 for v, s in zip(verdicts, longer, strict=True) if s > 0 and v <= 0)
    p_length = None
    if judge_right + length_right:
        p_length = float(
            scipy.stats.binomtest(
                judge_right, judge_right + length_right, 0.5, alternative="greater"
            ).pvalue
        )
    result = JudgeValidation(
        judge=agreement(verdicts),
        length=agreement(longer),
        judge_when_preferred_shorter=agreement(shorter),
        p_vs_length=p_length,
        errors=len(judge) - len(scored),
    )
    result.reasons.extend(_reasons(result))
    return result


def _reasons(result: JudgeValidation) -> list[str]:
    judged = result.judge.decided + result.judge.ties
    if judged == 0:  # the three reasons below would each blame the judge for the errors
        return [f"no pair was judged ({result.errors} could not be: see their errors)"]
    reasons = []
    p = result.judge.p_vs_chance
    if p is None or p >= ALPHA:
        shown = "no decided pairs" if p is None else f"p = {p:.3g}"
        reasons.append(f"does not agree with the labels significantly more than chance ({shown})")
    if result.p_vs_length is None or result.p_vs_length >= ALPHA:
        shown = (
            "no pairs where they differ"
            if result.p_vs_length is None
            else (f"p = {result.p_vs_length:.3g}")
        )
        reasons.append(f"is not significantly better than picking the longer answer ({shown})")
    if result.judge_when_preferred_shorter.decided == 0:
        reasons.append("no pair has a shorter preferred answer: a length bias cannot be ruled out")
    return reasons


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def cohens_kappa(first: Sequence[int], second: Sequence[int]) -> float | None:
    """Cohen's κ of two raters over the same items: agreement beyond what their label
    frequencies give by chance. None with fewer than two items or when chance explains
    everything (both raters always give one and the same label).

    Written out because no chosen dependency has it (scipy does not; scikit-learn is
    not worth a dependency for six lines)."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    if len(first) < 2:
        return None
    labels = sorted(set(first) | set(second))
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    expected = sum((list(first).count(k) / n) * (list(second).count(k) / n) for k in labels)
    return None if expected == 1 else (observed - expected) / (1 - expected)
