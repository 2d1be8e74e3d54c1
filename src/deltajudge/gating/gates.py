"""Gates: turn a rubric's figures and verdicts into pass/fail with a reason in words.

A gate that cannot be computed (no cases left, every case errored, a NaN figure) fails
and says so: a CI gate that passes because there was nothing to measure is worse than
none. Bounds: ``min``/``max`` are inclusive (``value >= min``), ``above``/``below``
strict (``value > above``). Named tests (``better``, ``not_worse``, ``noninferior``,
``equivalent``) read the comparison's verdict or run the exact test on shifted deltas,
with the same strict rules as the verdict (`deltajudge.gating.verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from deltajudge.gating.checkpoints import checkpoint_sweep, family_verdicts
from deltajudge.gating.names import gate_name, gate_targets
from deltajudge.gating.outcome import CheckpointSweep, GateResult, Verdict
from deltajudge.gating.verdict import ALPHA, MIN_NONTIED, usable, verdicts
from deltajudge.judging.gate_specs import PAIRED_METRICS, GateSpec
from deltajudge.judging.rubric import Rubric
from deltajudge.stats.agreement import JudgeValidation
from deltajudge.stats.paired import PairedComparison
from deltajudge.stats.rubric import Comparison, RubricStats
from deltajudge.stats.wilcoxon import shifted_signed_rank


@dataclass(frozen=True)
class Decisions:
    """Everything a rubric's figures decide: one verdict per comparison (in the order of
    ``RubricStats.comparisons``) and every gate's outcome."""

    verdicts: list[Verdict]
    gates: list[GateResult]
    checkpoints: CheckpointSweep | None = None


#: A judge's agreement with labelled pairs, keyed by (grader, labels file as written).
Agreements = Mapping[tuple[str, str], JudgeValidation]


def decide(rubric: Rubric, stats: RubricStats, agreements: Agreements | None = None) -> Decisions:
    """The verdicts, then the gates that read them, then the checkpoint pick."""
    found = family_verdicts(rubric, stats.comparisons)
    gates = evaluate_gates(rubric, stats, found, agreements)
    return Decisions(found, gates, checkpoint_sweep(rubric, stats, found))


def _comparison(
    stats: RubricStats, verdicts: list[Verdict], candidate: str, grader: str
) -> tuple[Comparison, Verdict] | None:
    for comparison, verdict in zip(stats.comparisons, verdicts, strict=True):
        if comparison.candidate == candidate and comparison.grader == grader:
            return comparison, verdict
    return None


def metric_value(spec: GateSpec, model: str, stats: RubricStats) -> tuple[float | None, str]:
    """The gate's figure for ``model``, or None with the reason it cannot be computed."""
    if spec.metric in PAIRED_METRICS:
        found = next(
            (c for c in stats.comparisons if c.candidate == model and c.grader == spec.grader),
            None,
        )
        if found is None:
            return None, f"{model} is the baseline: there is no delta to gate"
        paired = found.paired
        if paired.n == 0:
            return None, f"no case has scores from both models ({found.errors} with errors)"
        values = {
            "mean_delta": paired.mean_delta,
            "delta_ci_low": paired.ci_low,
            "delta_ci_high": paired.ci_high,
            "p_value": paired.p_value,
            "p_better": paired.p_better,
            "p_worse": paired.p_worse,
            "win_rate": paired.win_rate,
            "regressions": float(len(found.regressions)),
        }
        value = values[str(spec.metric)]
        why = f"cannot compute {spec.metric} from {paired.n} case(s)" if value is None else ""
        return value, why
    figures = stats.models[model][spec.grader]
    if spec.metric == "errors":
        return float(figures.errors), ""
    if figures.summary.n == 0:
        return None, f"{model} has no scored case on {spec.grader} ({figures.errors} errors)"
    if spec.metric == "mean":
        return figures.summary.mean, ""
    if figures.pass_rate is None:
        return None, f"grader {spec.grader} has no pass_threshold, so no pass rate"
    return figures.pass_rate.rate, ""


def evaluate_gates(
    rubric: Rubric,
    stats: RubricStats,
    found: list[Verdict] | None = None,
    agreements: Agreements | None = None,
) -> list[GateResult]:
    """Every gate of the rubric, for every model it targets."""
    if found is None:
        found = verdicts([c.paired for c in stats.comparisons], None)
    results = []
    for spec in rubric.gates:
        targets = gate_targets(spec, rubric)
        for model in targets:
            if spec.metric == "judge_agreement":
                value, passed, reason = _agreement(spec, agreements or {})
            elif spec.test is not None:
                value, passed, reason = _test(spec, _comparison(stats, found, model, spec.grader))
            else:
                value, why = metric_value(spec, model, stats)
                passed, reason = judge_bounds(spec, value, why)
            results.append(
                GateResult(
                    name=gate_name(spec, model, len(targets) > 1),
                    metric=str(spec.metric or spec.test),
                    grader=spec.grader,
                    model=model,
                    value=value,
                    min=spec.min,
                    max=spec.max,
                    passed=passed,
                    reason=reason,
                    above=spec.above,
                    below=spec.below,
                    margin=spec.margin,
                )
            )
    return _unproven_judges(results)


def _agreement(spec: GateSpec, agreements: Agreements) -> tuple[float | None, bool, str]:
    """Passes when the judge's agreement with the labels is within the bounds and the
    judge is not flagged: it beats chance and "pick the longer answer" significantly,
    on pairs that include some whose preferred answer is the shorter one."""
    assert spec.labels is not None
    found = agreements.get((spec.grader, spec.labels))
    if found is None:
        return None, False, f"cannot be computed: {spec.labels} was not judged in this run"
    judge = found.judge
    passed, reason = judge_bounds(spec, judge.rate, f"no pair of {spec.labels} was decided")
    if judge.rate is not None and judge.ci_low is not None and judge.ci_high is not None:
        reason += (
            f"; {judge.agree} of {judge.decided} decided pairs agree "
            f"(95% Wilson CI [{judge.ci_low:.2f}, {judge.ci_high:.2f}], {judge.ties} ties, "
            f"{found.errors} not judged)"
        )
    if found.flagged:
        reason += "; flagged: the judge " + "; ".join(found.reasons)
    return judge.rate, passed and not found.flagged, reason


def _unproven_judges(results: list[GateResult]) -> list[GateResult]:
    """A failed ``judge_agreement`` gate means its grader's scores are not evidence: every
    other gate on that grader fails too, saying why."""
    unproven = {g.grader: g.name for g in results if g.metric == "judge_agreement" and not g.passed}
    return [
        replace(
            g,
            passed=False,
            reason=f"not counted: the judge failed {unproven[g.grader]} ({g.reason})",
        )
        if g.grader in unproven and g.metric != "judge_agreement"
        else g
        for g in results
    ]


def judge_bounds(spec: GateSpec, value: float | None, why: str) -> tuple[bool, str]:
    """Pass/fail of a bound gate. NaN and infinity never pass: they are not a figure."""
    if value is None:
        return False, f"cannot be computed: {why}"
    if not usable(value):
        return False, f"cannot be computed: {spec.metric} is {value}"
    shown = f"{spec.metric} = {value:.4g}"
    if spec.min is not None and value < spec.min:
        return False, f"{shown}, below the minimum {spec.min:g}"
    if spec.above is not None and not value > spec.above:
        return False, f"{shown}, not above {spec.above:g} (strict)"
    if spec.max is not None and value > spec.max:
        return False, f"{shown}, above the maximum {spec.max:g}"
    if spec.below is not None and not value < spec.below:
        return False, f"{shown}, not below {spec.below:g} (strict)"
    return True, f"{shown}, within bounds"


def _test(
    spec: GateSpec, found: tuple[Comparison, Verdict] | None
) -> tuple[float | None, bool, str]:
    if found is None:
        return None, False, "cannot be computed: the model is the baseline, there is no delta"
    comparison, verdict = found
    paired = comparison.paired
    if paired.n == 0:
        why = f"no case has scores from both models ({comparison.errors} with errors)"
        return None, False, f"cannot be computed: {why}"
    if spec.test == "better":
        return paired.ci_low, verdict.outcome == "better", f"{verdict.outcome}: {verdict.reason}"
    if spec.test == "not_worse":
        passed = verdict.outcome != "worse"
        head = "no significant regression" if passed else "significantly worse"
        return paired.ci_high, passed, f"{head} ({verdict.outcome}: {verdict.reason})"
    assert spec.margin is not None
    if spec.test == "noninferior":
        return noninferior(paired, comparison.deltas, spec.margin)
    return equivalent(paired, comparison.deltas, spec.margin)


def _margin_test(deltas: Sequence[float], shift: float, better: bool) -> tuple[bool, str]:
    """The exact one-sided test on the deltas shifted by the margin, with the same minimum
    of changed cases as a verdict."""
    test = shifted_signed_rank(deltas, shift)
    if test is None or test.nonzero < MIN_NONTIED:
        changed = 0 if test is None else test.nonzero
        return False, f"{changed} case(s) off the margin; at least {MIN_NONTIED} needed"
    p = test.p_better if better else test.p_worse
    return p < ALPHA / 2, f"one-sided p = {p:.3g} (needs < {ALPHA / 2:g})"


def noninferior(
    paired: PairedComparison, deltas: Sequence[float], margin: float
) -> tuple[float | None, bool, str]:
    """Passes when the lower 95% bound is above −margin (strict) and the exact test of
    "worse by at least the margin" is rejected at one-sided 2.5%."""
    low = paired.ci_low
    if not usable(low):
        return None, False, "cannot be computed: no confidence interval"
    assert low is not None
    test_ok, test_words = _margin_test(deltas, margin, better=True)
    bound_ok = low > -margin
    where = "above" if bound_ok else "not above"
    reason = f"95% CI lower bound {low:+.3g} {where} -{margin:g}; {test_words}"
    return low, bound_ok and test_ok, reason


def equivalent(
    paired: PairedComparison, deltas: Sequence[float], margin: float
) -> tuple[float | None, bool, str]:
    """TOST: the 95% interval inside (−margin, +margin), strict, and both one-sided exact
    tests rejected at 2.5% (a conservative TOST: each side at half the level)."""
    low, high = paired.ci_low, paired.ci_high
    if not (usable(low) and usable(high)):
        return None, False, "cannot be computed: no confidence interval"
    assert low is not None and high is not None
    lower_ok, lower_words = _margin_test(deltas, margin, better=True)
    upper_ok, upper_words = _margin_test(deltas, -margin, better=False)
    inside = -margin < low and high < margin
    where = "inside" if inside else "not inside"
    reason = (
        f"95% CI [{low:+.3g}, {high:+.3g}] {where} (-{margin:g}, +{margin:g}); "
        f"lower test {lower_words}; upper test {upper_words}"
    )
    return max(abs(low), abs(high)), inside and lower_ok and upper_ok, reason
