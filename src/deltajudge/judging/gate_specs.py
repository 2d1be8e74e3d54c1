"""The gates of a rubric file (bounds on figures, or named tests on a comparison's
verdict) and its two checks (judge noise, per-case expectations)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from deltajudge.judging.grader_specs import ItemName, Strict

#: Metrics read off a baseline-vs-candidate comparison.
PairedMetric = Literal[
    "mean_delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "p_better",
    "p_worse",
    "win_rate",
    "regressions",
]
#: Per model (``pass_rate``, ``mean``, ``errors``), and the judge's own agreement.
GateMetric = Literal[PairedMetric, "pass_rate", "mean", "errors", "judge_agreement"]
PAIRED_METRICS: frozenset[str] = frozenset(get_args(PairedMetric))

#: Named gates on a comparison's verdict (`deltajudge.gating.verdict`): superiority, no
#: significant regression, non-inferiority within a margin, equivalence (TOST).
GateTest = Literal["better", "not_worse", "noninferior", "equivalent"]


class GateSpec(Strict):
    """A gate: either a bound on a figure (``metric`` with ``min``/``max``, inclusive, or
    ``above``/``below``, strict) or a named test (``test``, with ``margin`` for
    ``noninferior`` and ``equivalent``)."""

    name: ItemName | None = None
    metric: GateMetric | None = None
    test: GateTest | None = None
    margin: float | None = Field(default=None, gt=0)
    grader: str
    model: str | None = None
    candidate: str | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    #: ``judge_agreement`` only: labelled preference pairs (relative to the rubric file)
    #: the grader's judge must agree with (`deltajudge.judge_check`).
    labels: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_bounds(self) -> GateSpec:
        bounds = [b for b in (self.min, self.max, self.above, self.below) if b is not None]
        if (self.metric == "judge_agreement") != (self.labels is not None):
            raise ValueError(
                "labels: a judge_agreement gate needs `labels` (a preference-pairs file) "
                "and only a judge_agreement gate takes it"
            )
        if self.metric == "judge_agreement" and (self.model or self.candidate):
            raise ValueError(
                "model: a judge_agreement gate checks the grader's judge, not a model under "
                "test: drop `model`/`candidate`"
            )
        if (self.metric is None) == (self.test is None):
            raise ValueError("a gate needs either `metric` (with bounds) or `test`, not both")
        if self.test is not None:
            if bounds:
                raise ValueError(f"test: a `{self.test}` gate takes no min/max/above/below")
            needs_margin = self.test in ("noninferior", "equivalent")
            if needs_margin and self.margin is None:
                raise ValueError(f"margin: a `{self.test}` gate needs a margin > 0")
            if not needs_margin and self.margin is not None:
                raise ValueError(f"margin: a `{self.test}` gate takes no margin")
            return self
        if self.margin is not None:
            raise ValueError("margin: only `noninferior` and `equivalent` tests take a margin")
        if not bounds:
            raise ValueError("a gate needs `min`, `max`, `above` or `below`")
        low = max((b for b in (self.min, self.above) if b is not None), default=None)
        high = min((b for b in (self.max, self.below) if b is not None), default=None)
        if low is not None and high is not None and low > high:
            raise ValueError(f"the lower bound ({low}) is above the upper bound ({high})")
        return self


class NoiseCheck(Strict):
    """Re-judge a sample of answers to measure how much the judge disagrees with itself."""

    cases: int = Field(default=20, ge=2)
    repeats: int = Field(default=3, ge=2, le=20)
    grader: str | None = None


class CaseCheck(Strict):
    """What one case item asserts beyond "generated and graded without error"."""

    no_drop_beyond: float | None = Field(default=None, ge=0)
    min_score: float | None = None
    grader: str | None = None
