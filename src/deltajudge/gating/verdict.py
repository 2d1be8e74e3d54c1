"""Better, worse, or insufficient evidence: the one place a comparison gets its verdict.

A judge's scores are noisy, and a report that calls noise a win teaches people to ignore
it. So a verdict needs three things to agree, each strict:

- at least `MIN_NONTIED` cases that changed at all (wins + losses; ties say nothing
  about direction);
- the 95% bootstrap interval of the mean delta entirely on one side of 0 (``ci_low > 0``
  for *better*; an interval of exactly (0, 0), an identical candidate, is not above 0);
- the exact Wilcoxon signed-rank test (`deltajudge.stats.wilcoxon`) pointing the same
  way at the two-sided level `ALPHA` (one-sided 2.5%), Holm-adjusted when the rubric
  asks for ``correction: holm``.

Anything else, including figures that could not be computed (None or NaN), is
*insufficient evidence*, with the reason in words. Gates and renderers read this verdict;
none of them re-derives it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from deltajudge.gating.outcome import Verdict
from deltajudge.stats.paired import PairedComparison

#: Two-sided level of every verdict and named gate (each direction is tested at half).
ALPHA = 0.05

#: Fewest cases that must have changed before a verdict can be *better* or *worse*.
#: With k changed cases the smallest one-sided p any exact test can give is 2^-k: 5 cases
#: give 1/32 = 0.031, which can never reach the one-sided 0.025, while 6 give 1/64 =
#: 0.016. Below 6 a "significant" verdict is impossible by arithmetic, so it is refused
#: up front with that reason, and 2 cases at p = 0.5 can never be called significant.
MIN_NONTIED = 6


def usable(value: float | None) -> bool:
    """A figure a bound may be checked against: not None and not NaN or infinite."""
    return value is not None and math.isfinite(value)


def comparison_verdict(
    paired: PairedComparison, *, p_value: float | None = None, correction: str | None = None
) -> Verdict:
    """The verdict on one candidate-vs-baseline comparison (``p_value`` overrides the
    raw two-sided p, e.g. with a Holm-adjusted one)."""
    p = paired.p_value if p_value is None else p_value

    def undecided(reason: str) -> Verdict:
        return Verdict("insufficient evidence", reason, p, correction)

    if paired.n == 0:
        return undecided("no case has scores from both models")
    if paired.nontied < MIN_NONTIED:
        return undecided(
            f"{paired.nontied} of {paired.n} cases changed; a verdict needs at least "
            f"{MIN_NONTIED} (with fewer no exact test can reach the 5% level)"
        )
    low, high = paired.ci_low, paired.ci_high
    if not (usable(low) and usable(high) and usable(p)):
        return undecided("the interval or the p-value could not be computed")
    assert low is not None and high is not None and p is not None
    tested = "Holm-adjusted p" if correction == "holm" else "p"
    figures = f"95% CI [{low:+.3g}, {high:+.3g}], two-sided {tested} = {p:.3g}"
    direction = _direction(paired)
    if low > 0 and direction > 0 and p < ALPHA:
        return Verdict("better", f"{figures}: both above 0", p, correction)
    if high < 0 and direction < 0 and p < ALPHA:
        return Verdict("worse", f"{figures}: both below 0", p, correction)
    if low > 0 or high < 0:
        return undecided(f"{figures}: the interval excludes 0 but the exact test does not")
    return undecided(f"{figures}: the interval includes 0")


def _direction(paired: PairedComparison) -> int:
    """+1 when the one-sided test favours the candidate, -1 the baseline, 0 neither."""
    better, worse = paired.p_better, paired.p_worse
    if better is None or worse is None or not (usable(better) and usable(worse)):
        return 0
    return 1 if better < worse else -1 if worse < better else 0


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and is not counted).

    Holm controls the chance of any false "better"/"worse" across the family at ALPHA
    without assuming the comparisons are independent (they share a baseline), and it
    is uniformly more powerful than Bonferroni. scipy has no Holm (its
    ``false_discovery_control`` is Benjamini–Hochberg, a different promise).
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if usable(p))
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        assert p is not None
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def verdicts(comparisons: Sequence[PairedComparison], correction: str | None) -> list[Verdict]:
    """Every comparison's verdict, Holm-corrected across them when ``correction`` is
    ``holm`` (a comparison without a p-value is undecided either way)."""
    if correction != "holm":
        return [comparison_verdict(c) for c in comparisons]
    adjusted = holm([c.p_value for c in comparisons])
    return [
        comparison_verdict(c, p_value=a, correction="holm")
        if a is not None
        else comparison_verdict(c)
        for c, a in zip(comparisons, adjusted, strict=True)
    ]
