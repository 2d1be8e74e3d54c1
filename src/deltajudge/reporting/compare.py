"""What changed between two reports: regression gating across runs, the way snapshot
plugins do it, and ``deltajudge diff``.

An accepted ``report.json`` is the baseline. This run fails its ``baseline`` gate when an
aggregate (a model's mean on a grader) fell by more than the tolerance; the failure
lists what changed case by case, computed with deepdiff, so a reviewer sees *why*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff
from pydantic import ValidationError

from deltajudge.constants import REPORT_SCHEMA_VERSION
from deltajudge.errors import ConfigError
from deltajudge.reporting.model import Report, RubricEntry

#: How far a mean may fall below the baseline's before the gate fails, by default.
DEFAULT_TOLERANCE = 0.1


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


def load_baseline(path: Path) -> Report:
    """The accepted report, or a `ConfigError` that says what to do about it."""
    if not path.is_file():
        raise ConfigError(
            "baseline report not found",
            path=path,
            hint="accept a run first: pytest ... --dj-baseline PATH --dj-update-baseline",
        )
    return load_report(path, role="baseline")


def load_report(path: Path, role: str = "report") -> Report:
    """A saved report.json, or a `ConfigError` naming the file and the problem."""
    if not path.is_file():
        raise ConfigError("report not found", path=path, hint="give the path of a report.json")
    try:
        report = Report.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ConfigError(
            f"not a deltajudge report.json ({exc.error_count()} schema problems)", path=path
        ) from None
    if report.schema_version != REPORT_SCHEMA_VERSION:
        raise ConfigError(
            f"{role} has schema_version {report.schema_version}; this deltajudge writes "
            f"{REPORT_SCHEMA_VERSION}",
            path=path,
            hint="re-accept the baseline with --dj-update-baseline" if role == "baseline" else None,
        )
    return report


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


@dataclass
class ReportChanges:
    rubrics: list[RubricChanges]
    rubrics_added: list[str]
    rubrics_removed: list[str]
    #: "alias: old id -> new id": why every output of that alias changed.
    models_changed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"model {change}" for change in self.models_changed]
        out += [f"rubric added: {name}" for name in self.rubrics_added]
        out += [f"rubric removed: {name}" for name in self.rubrics_removed]
        for rubric in self.rubrics:
            lines = rubric.lines(tolerance=0.0)
            if len(lines) > 1:
                out += lines
        return out


def compare_reports(old: Report, new: Report) -> ReportChanges:
    before = {r.name: r for r in old.rubrics}
    after = {r.name: r for r in new.rubrics}
    return ReportChanges(
        rubrics=[compare_rubric(before[name], r) for name, r in after.items() if name in before],
        rubrics_added=[name for name in after if name not in before],
        rubrics_removed=[name for name in before if name not in after],
        models_changed=[
            f"{alias}: {old.models[alias].model} -> {info.model}"
            for alias, info in new.models.items()
            if alias in old.models and old.models[alias].model != info.model
        ],
    )


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
