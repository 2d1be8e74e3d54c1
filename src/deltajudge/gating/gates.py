"""Gates: turn a rubric's figures into pass/fail with a reason in words.

A gate that cannot be computed (no cases left, every case errored) fails and says so:
a CI gate that passes because there was nothing to measure is worse than none.
"""

from __future__ import annotations

from deltajudge.gating.names import gate_name, gate_targets
from deltajudge.judging.rubric import GateSpec, Rubric
from deltajudge.judging.rubric_names import PAIRED_METRICS
from deltajudge.results import GateResult
from deltajudge.stats.rubric import Comparison, RubricStats


def _comparison(stats: RubricStats, candidate: str, grader: str) -> Comparison | None:
    return next(
        (c for c in stats.comparisons if c.candidate == candidate and c.grader == grader), None
    )


def metric_value(spec: GateSpec, model: str, stats: RubricStats) -> tuple[float | None, str]:
    """The gate's figure for ``model``, or None with the reason it cannot be computed."""
    if spec.metric in PAIRED_METRICS:
        found = _comparison(stats, model, spec.grader)
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
            "win_rate": paired.win_rate,
            "regressions": float(len(found.regressions)),
        }
        value = values[spec.metric]
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


def evaluate_gates(rubric: Rubric, stats: RubricStats) -> list[GateResult]:
    results = []
    for spec in rubric.gates:
        targets = gate_targets(spec, rubric)
        for model in targets:
            value, why = metric_value(spec, model, stats)
            passed, reason = _judge(spec, value, why)
            results.append(
                GateResult(
                    name=gate_name(spec, model, len(targets) > 1),
                    metric=spec.metric,
                    grader=spec.grader,
                    model=model,
                    value=value,
                    min=spec.min,
                    max=spec.max,
                    passed=passed,
                    reason=reason,
                )
            )
    return results


def _judge(spec: GateSpec, value: float | None, why: str) -> tuple[bool, str]:
    if value is None:
        return False, f"cannot be computed: {why}"
    if spec.min is not None and value < spec.min:
        return False, f"{spec.metric} = {value:.4g}, below the minimum {spec.min:g}"
    if spec.max is not None and value > spec.max:
        return False, f"{spec.metric} = {value:.4g}, above the maximum {spec.max:g}"
    return True, f"{spec.metric} = {value:.4g}, within bounds"
