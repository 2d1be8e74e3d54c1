"""The verdict and the gates that read it: every boundary case gets a defined verdict
with a reason, an identical candidate is never better, NaN never passes a bound, and
the named tests (better, not_worse, noninferior, equivalent) and Holm behave as
documented. Figures come from the real statistics on hand-made deltas."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from deltajudge.gating.baseline import baseline_tolerance
from deltajudge.gating.gates import decide, evaluate_gates, judge_bounds
from deltajudge.gating.verdict import MIN_NONTIED, comparison_verdict, holm, verdicts
from deltajudge.judging.gate_specs import GateSpec
from deltajudge.judging.rubric import Rubric
from deltajudge.reporting.model import NoiseEntry
from deltajudge.stats.length import length_effect
from deltajudge.stats.paired import PairedComparison, compare_paired
from deltajudge.stats.rubric import Comparison, RegressionRules, RubricStats


def _paired(deltas: list[float]) -> PairedComparison:
    return compare_paired([0.0] * len(deltas), deltas)


def _verdict(deltas: list[float]) -> tuple[str, str]:
    found = comparison_verdict(_paired(deltas))
    return found.outcome, found.reason


# --- the verdict ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deltas", "reason"),
    [
        ([], "no case has scores from both models"),
        ([1.0], "1 of 1 cases changed; a verdict needs at least 6"),
        ([1.0, 1.0], "2 of 2 cases changed"),  # +1.00 [+1.00, +1.00], p = 0.5
        ([0.0] * 36, "0 of 36 cases changed"),  # an identical candidate
        ([1.0] * 3 + [0.0] * 33, "3 of 36 cases changed"),  # exact p = 0.25
        ([1.0] * 5 + [0.0] * 31, "5 of 36 cases changed"),  # 2^-5 can never reach 2.5%
        ([1.0] * 4 + [0.0] * 32, "4 of 36 cases changed"),  # scipy said p = 0.046
    ],
    ids=["empty", "n=1", "n=2", "identical", "3-wins", "5-wins", "4-wins-32-ties"],
)
def test_too_few_changed_cases_is_insufficient_evidence(deltas: list[float], reason: str) -> None:
    outcome, why = _verdict(deltas)
    assert outcome == "insufficient evidence"
    assert reason in why


def test_six_consistent_wins_are_better_and_six_losses_worse() -> None:
    assert MIN_NONTIED == 6
    outcome, why = _verdict([1.0] * 6 + [0.0] * 30)
    assert outcome == "better"
    assert "two-sided p = 0.0312" in why and "both above 0" in why
    assert _verdict([-1.0] * 6 + [0.0] * 30)[0] == "worse"


def test_a_mixed_change_is_insufficient_evidence_and_says_why() -> None:
    outcome, why = _verdict([1.0] * 8 + [-1.0] * 6 + [0.0] * 22)
    assert outcome == "insufficient evidence"
    assert "the interval includes 0" in why


def test_the_interval_and_the_test_must_agree() -> None:
    """The interval excludes 0 but the exact test cannot reject: undecided."""
    paired = _paired([1.0] * 7 + [-1.0] * 2 + [0.0] * 3)
    forced = PairedComparison(
        **{**paired.__dict__, "ci_low": 0.1, "p_value": 0.2, "p_better": 0.1, "p_worse": 0.95}
    )
    found = comparison_verdict(forced)
    assert found.outcome == "insufficient evidence"
    assert "the interval excludes 0 but the exact test does not" in found.reason


@pytest.mark.parametrize("field", ["ci_low", "ci_high", "p_value"])
def test_a_nan_figure_is_insufficient_evidence(field: str) -> None:
    paired = _paired([1.0] * 10 + [0.0] * 4)
    broken = PairedComparison(**{**paired.__dict__, field: math.nan})
    found = comparison_verdict(broken)
    assert found.outcome == "insufficient evidence"
    assert "could not be computed" in found.reason


def test_holm_adjusts_in_step_down_order() -> None:
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.5]) == pytest.approx([1.0, 1.0])


def test_holm_can_turn_a_better_into_insufficient_evidence() -> None:
    """p = 0.031 alone is better; corrected across four comparisons it is 0.125."""
    strong = _paired([1.0] * 6 + [0.0] * 30)
    flat = _paired([0.0] * 36)
    found = verdicts([strong, flat, strong, strong], "holm")
    assert found[0].outcome == "insufficient evidence"
    assert found[0].correction == "holm" and found[0].p_value == pytest.approx(0.0625 * 1.5)
    assert "Holm-adjusted p" in found[0].reason
    assert verdicts([strong], None)[0].outcome == "better"


# --- gates ------------------------------------------------------------------------------


RUBRIC: dict[str, Any] = yaml.safe_load(
    """
name: demo
dataset: data.jsonl
models: [base, cand]
graders:
  - {name: q, type: string_check, input: "{{ sample.output_text }}", reference: x,
     operation: eq}
"""
)


def _rubric(gates: list[dict[str, Any]], **extra: Any) -> Rubric:
    return Rubric.model_validate({**RUBRIC, "gates": gates, **extra})


def _stats(deltas: list[float], errors: int = 0) -> RubricStats:
    base = [2.0] * len(deltas)
    cand = [2.0 + d for d in deltas]
    comparison = Comparison(
        baseline="base",
        candidate="cand",
        grader="q",
        paired=compare_paired(base, cand),
        errors=errors,
        mcnemar=None,
        length=length_effect(base, cand, [10] * len(deltas), [10] * len(deltas)),
        deltas=tuple(deltas),
    )
    return RubricStats(models={}, comparisons=[comparison])


def _gate(spec: dict[str, Any], deltas: list[float], errors: int = 0) -> tuple[bool, str]:
    (gate,) = evaluate_gates(_rubric([{"grader": "q", **spec}]), _stats(deltas, errors))
    return gate.passed, gate.reason


def test_better_gate_never_passes_an_identical_candidate() -> None:
    assert _gate({"test": "better"}, [0.0] * 36) == (
        False,
        "insufficient evidence: 0 of 36 cases changed; a verdict needs at least 6 "
        "(with fewer no exact test can reach the 5% level)",
    )
    assert _gate({"test": "better"}, [1.0] * 6 + [0.0] * 30)[0] is True


def test_the_inclusive_ci_gate_passes_an_identical_candidate_and_the_strict_one_does_not() -> None:
    """Why `above` exists: the interval of 36 ties is exactly [0, 0]."""
    assert _gate({"metric": "delta_ci_low", "min": 0}, [0.0] * 36)[0] is True
    passed, reason = _gate({"metric": "delta_ci_low", "above": 0}, [0.0] * 36)
    assert (passed, reason) == (False, "delta_ci_low = 0, not above 0 (strict)")


def test_not_worse_passes_without_evidence_and_fails_on_a_significant_drop() -> None:
    passed, reason = _gate({"test": "not_worse"}, [1.0, -1.0])
    assert passed and reason.startswith("no significant regression (insufficient evidence:")
    passed, reason = _gate({"test": "not_worse"}, [-1.0] * 20)
    assert not passed and reason.startswith("significantly worse (worse:")


def test_p_worse_gates_what_the_two_sided_p_value_cannot() -> None:
    """0 wins, 20 losses: the two-sided p is tiny, so `p_value max 0.05` passes a
    candidate that is significantly worse; `p_better max 0.05` does not."""
    losses = [-1.0] * 20
    assert _gate({"metric": "p_value", "max": 0.05}, losses)[0] is True
    assert _gate({"metric": "p_better", "max": 0.05}, losses)[0] is False
    assert _gate({"metric": "p_worse", "max": 0.05}, losses)[0] is True


def test_noninferior_passes_an_identical_candidate_within_the_margin() -> None:
    passed, reason = _gate({"test": "noninferior", "margin": 0.2}, [0.0] * 36)
    assert passed, reason
    assert reason.startswith("95% CI lower bound +0 above -0.2; one-sided p = 1.46e-11")


def test_noninferior_fails_a_candidate_that_may_be_worse_by_the_margin() -> None:
    deltas = [-1.0] * 8 + [0.0] * 28  # mean −0.22
    passed, reason = _gate({"test": "noninferior", "margin": 0.2}, deltas)
    assert not passed and "not above -0.2" in reason


def test_noninferior_on_two_cases_is_refused() -> None:
    passed, reason = _gate({"test": "noninferior", "margin": 0.5}, [0.0, 0.0])
    assert not passed
    assert "2 case(s) off the margin; at least 6 needed" in reason


def test_equivalent_needs_the_whole_interval_inside_the_margins() -> None:
    tight = [1.0, -1.0] * 3 + [0.0] * 30
    assert _gate({"test": "equivalent", "margin": 0.3}, tight)[0] is True
    passed, reason = _gate({"test": "equivalent", "margin": 0.3}, [1.0] * 12 + [0.0] * 24)
    assert not passed and "not inside (-0.3, +0.3)" in reason


@pytest.mark.parametrize("test", ["better", "not_worse", "noninferior", "equivalent"])
def test_every_named_gate_fails_when_one_side_is_all_errors(test: str) -> None:
    spec: dict[str, Any] = {"test": test}
    if test in ("noninferior", "equivalent"):
        spec["margin"] = 0.2
    assert _gate(spec, [], errors=36) == (
        False,
        "cannot be computed: no case has scores from both models (36 with errors)",
    )


def test_nan_never_passes_a_bound() -> None:
    spec = GateSpec(metric="mean", grader="q", min=0.0)
    assert judge_bounds(spec, math.nan, "") == (False, "cannot be computed: mean is nan")
    assert judge_bounds(GateSpec(metric="mean", grader="q", max=1.0), math.inf, "")[0] is False


def test_decide_applies_the_rubrics_correction() -> None:
    rubric = _rubric([{"grader": "q", "test": "better"}], correction="holm")
    decided = decide(rubric, _stats([1.0] * 6 + [0.0] * 30))
    assert decided.verdicts[0].correction == "holm"  # one comparison: Holm changes nothing
    assert decided.gates[0].passed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"metric": "mean"}, "a gate needs `min`, `max`, `above` or `below`"),
        ({"test": "noninferior"}, "a `noninferior` gate needs a margin > 0"),
        ({"test": "better", "margin": 0.1}, "a `better` gate takes no margin"),
        ({"test": "better", "min": 0}, "a `better` gate takes no min/max/above/below"),
        ({"metric": "mean", "test": "better"}, "either `metric` (with bounds) or `test`"),
        ({"metric": "mean", "above": 2, "below": 1}, "the lower bound (2.0) is above"),
    ],
)
def test_gate_specs_that_make_no_sense_are_rejected(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GateSpec.model_validate({"grader": "q", **spec})


# --- which rule counts a regression ------------------------------------------------------


def _rule(scores: list[float], crossing: bool = True, **rubric: Any) -> tuple[float, bool, str]:
    noise_check = {"noise_check": {"cases": 5}} if rubric.get("regression_threshold") else {}
    rules = RegressionRules(_rubric([], **noise_check, **rubric), "q", 0.5)
    found = rules.rule("q", scores, crossing)
    return found.min_drop, found.inclusive, found.description


def test_an_integer_scale_counts_one_step_and_a_continuous_one_any_drop() -> None:
    assert _rule([0.0, 2.0, 4.0]) == (
        1.0,
        True,
        "a drop of at least 1 scale step or a fall from pass to fail",
    )
    assert _rule([0.25, 2.0], crossing=False) == (0.0, False, "any drop")


def test_a_number_or_the_judges_noise_sets_the_threshold() -> None:
    assert _rule([1.0], regression_threshold=0.5)[:2] == (0.5, False)
    limit, inclusive, words = _rule([1.0], regression_threshold="noise")
    assert limit == pytest.approx(1.959964 * math.sqrt(2) * 0.5, rel=1e-6)
    assert not inclusive and "beyond the judge's measured noise" in words


def test_the_noise_rule_needs_a_noise_check() -> None:
    with pytest.raises(ValueError, match="regression_threshold: noise needs a noise_check"):
        _rubric([], regression_threshold="noise")


def test_auto_baseline_tolerance_never_falls_below_the_runs_default() -> None:
    """A deterministic judge (sd 0) measures no noise: a tolerance of 0 would fail on
    any wobble of the answers."""
    rubric = _rubric([], noise_check={"cases": 5}, baseline_tolerance="auto")
    silent = NoiseEntry(grader="q", answers=5, repeats=3, within_sd=0.0, min_detectable_delta=0.0)
    assert baseline_tolerance(rubric, silent, 0.1) == 0.1
    noisy = silent.model_copy(update={"min_detectable_delta": 0.4})
    assert baseline_tolerance(rubric, noisy, 0.1) == 0.4
    assert baseline_tolerance(_rubric([], baseline_tolerance=0.05), noisy, 0.1) == 0.05
