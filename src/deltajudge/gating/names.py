"""Names the pytest shell needs at collection time, without importing the statistics."""

from __future__ import annotations

from deltajudge.judging.gate_specs import GateSpec
from deltajudge.judging.rubric import Rubric

#: The gate item every rubric gets when ``--dj-baseline`` is given.
BASELINE_GATE = "baseline"


def gate_targets(spec: GateSpec, rubric: Rubric) -> list[str]:
    """The models a gate checks: the one it names, else every candidate (else the baseline)."""
    if spec.metric == "judge_agreement":  # the judge is gated, not a model under test
        grader = next((g for g in rubric.graders if g.name == spec.grader), None)
        judge = getattr(grader, "model", None)
        return [judge if isinstance(judge, str) else spec.grader]
    named = spec.candidate or spec.model
    if named is not None:
        return [named]
    return rubric.candidates or [rubric.baseline]


def gate_name(spec: GateSpec, model: str, several: bool) -> str:
    if spec.name is not None:
        return f"{spec.name}[{model}]" if several else spec.name
    # No "[" mid-name: pytest reads "a[b] >= 1" as a parametrized id and JUnit shows
    # "a[b] >= 1]"; a bracket may only close the name, as in "in [1, 2]".
    if spec.test is not None:
        margin = f" margin {spec.margin:g}" if spec.margin is not None else ""
        return f"{spec.test}({spec.grader}, {model}){margin}"
    subject = f"{spec.metric}({spec.grader}, {model})"
    if spec.min is not None and spec.max is not None:
        return f"{subject} in [{spec.min:g}, {spec.max:g}]"
    bounds = [
        f"{sign} {value:g}"
        for sign, value in (
            (">=", spec.min),
            (">", spec.above),
            ("<=", spec.max),
            ("<", spec.below),
        )
        if value is not None
    ]
    return f"{subject} {' and '.join(bounds)}"


def gate_names(rubric: Rubric) -> list[str]:
    """Known at collection time, so each gate can be its own pytest item."""
    names = []
    for spec in rubric.gates:
        targets = gate_targets(spec, rubric)
        names += [gate_name(spec, model, len(targets) > 1) for model in targets]
    return names
