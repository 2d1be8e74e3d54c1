"""The ``baseline`` gate: this run against an accepted report.json, the way snapshot
plugins gate on a stored snapshot.

The gate fails when an aggregate (a model's mean on a grader) fell by more than the
tolerance; the failure lists what changed case by case, computed with deepdiff, so a
reviewer sees *why*. `deltajudge diff` reuses the same comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

from deltajudge.gating.names import BASELINE_GATE
from deltajudge.gating.outcome import GateResult
from deltajudge.judging.rubric import Rubric
from deltajudge.reporting.model import NoiseEntry, Report, RubricEntry


@dataclass(frozen=True)
class AggregateChange:
    model: str
    grader: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


@dataclass
class RubricChanges:
    rubric: str
    aggregates: list[AggregateChange] = field(default_factory=list)
    cases_added: list[str] = field(default_factory=list)
    cases_removed: list[str] = field(default_factory=list)
    scores_changed: list[str] = field(default_factory=list)  # "case / model / grader: 2 -> 3"
    outputs_changed: list[str] = field(default_factory=list)  # "case / model"

    def fell(self, tolerance: float) -> list[AggregateChange]:
        return [a for a in self.aggregates if a.delta is not None and a.delta < -tolerance]

    def lines(self, tolerance: float, limit: int = 20) -> list[str]:
        out = [f"rubric {self.rubric}:"]
        for a in self.aggregates:
            if a.delta is not None and a.delta != 0:
                flag = "  FELL" if a.delta < -tolerance else ""
                move = f"{a.old:.3f} -> {a.new:.3f} ({a.delta:+.3f})"
                out.append(f"  mean {a.model}/{a.grader}: {move}{flag}")
            elif a.old != a.new:  # a figure appeared or vanished (no scored case, or removed)
                out.append(f"  mean {a.model}/{a.grader}: {_shown(a.old)} -> {_shown(a.new)}")
        for title, items in (
            ("cases added", self.cases_added),
            ("cases removed", self.cases_removed),
            ("scores changed", self.scores_changed),
            ("outputs changed", self.outputs_changed),
        ):
            if items:
                shown = ", ".join(items[:limit]) + (" …" if len(items) > limit else "")
                out.append(f"  {title} ({len(items)}): {shown}")
        return out


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def _case_view(rubric: RubricEntry) -> dict[str, Any]:
    return {
        case.id: {
            alias: {"scores": dict(sample.scores), "output": sample.output_text}
            for alias, sample in case.samples.items()
        }
        for case in rubric.cases
    }


def compare_rubric(old: RubricEntry, new: RubricEntry) -> RubricChanges:
    changes = RubricChanges(rubric=new.name)
    pairs = {(a, g) for r in (old, new) for a, f in r.models.items() for g in f.graders}
    for alias, grader in sorted(pairs):
        changes.aggregates.append(
            AggregateChange(alias, grader, _mean(old, alias, grader), _mean(new, alias, grader))
        )
    diff = DeepDiff(_case_view(old), _case_view(new), view="tree")
    for kind, nodes in diff.items():
        for node in nodes:
            path = node.path(output_format="list")
            if kind == "dictionary_item_added" and len(path) == 1:
                changes.cases_added.append(str(path[0]))
            elif kind == "dictionary_item_removed" and len(path) == 1:
                changes.cases_removed.append(str(path[0]))
            elif len(path) >= 3 and path[2] == "output":
                changes.outputs_changed.append(f"{path[0]} / {path[1]}")
            elif len(path) >= 4 and path[2] == "scores":
                changes.scores_changed.append(
                    f"{path[0]} / {path[1]} / {path[3]}: {node.t1} -> {node.t2}"
                )
    return changes


def _mean(rubric: RubricEntry, alias: str, grader: str) -> float | None:
    figures = rubric.models.get(alias)
    found = figures.graders.get(grader) if figures else None
    return found.mean if found else None


def baseline_verdict(old: Report, rubric: RubricEntry, tolerance: float) -> tuple[bool, str]:
    """Pass/fail and the words for the ``baseline`` gate of one rubric."""
    previous = next((r for r in old.rubrics if r.name == rubric.name), None)
    if previous is None:
        return False, f"the baseline report has no rubric named {rubric.name!r}"
    changes = compare_rubric(previous, rubric)
    fell = changes.fell(tolerance)
    head = (
        f"{len(fell)} aggregate(s) fell by more than {tolerance:g}"
        if fell
        else f"no aggregate fell by more than {tolerance:g}"
    )
    from deltajudge.reporting.worst_cases import worst_since

    return not fell, "\n".join([head, *worst_since(previous, rubric), *changes.lines(tolerance)])


def baseline_tolerance(rubric: Rubric, noise: NoiseEntry | None, default: float) -> float:
    """The rubric's own tolerance, ``auto`` from its measured judge noise, else the run's.

    ``auto`` is the minimum detectable delta but never below the run's default: a
    deterministic judge (within-answer sd 0) measures no judge noise, yet the models'
    answers still vary from run to run, and a tolerance of 0 would fail on any wobble.
    """
    wanted = rubric.baseline_tolerance
    if isinstance(wanted, float | int):
        return float(wanted)
    if wanted == "auto" and noise is not None and noise.min_detectable_delta is not None:
        return max(noise.min_detectable_delta, default)
    return default


def baseline_gate(
    old: Report | None, rubric: RubricEntry, tolerance: float, problem: str, accepted: bool
) -> GateResult:
    """The gate's outcome: against ``old`` when there is one; otherwise it passes only when
    this run was just accepted as the baseline, and ``problem`` says why."""
    if old is not None:
        passed, reason = baseline_verdict(old, rubric, tolerance)
    else:
        passed, reason = accepted, problem
    return GateResult(
        name=BASELINE_GATE, metric="baseline", grader="*", model="*", passed=passed, reason=reason
    )
