"""The ``baseline`` gate: this run against an accepted report.json, the way snapshot
plugins gate on a stored snapshot.

The gate fails when an aggregate (a model's mean on a grader) fell by more than the
tolerance; the failure lists what changed case by case, computed with deepdiff, so a
reviewer sees *why*. `deltajudge diff` reuses the same comparison.

Both reports' rows are walked once, side by side, never held: a case whose digest (its
scores and answers, `case_digest`) is the accepted one's is unchanged, and only the
others are read back from the baseline file (`deltajudge.reporting.saved_report`) and
compared with deepdiff, so a 100,000-case baseline costs a few bytes a case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

from deltajudge.gating.names import BASELINE_GATE
from deltajudge.gating.outcome import GateResult
from deltajudge.judging.rubric import Rubric
from deltajudge.reporting.model import CaseEntry, NoiseEntry, Report, RubricEntry
from deltajudge.reporting.saved_report import SavedRows
from deltajudge.reporting.worst_cases import SHOWN, fall_since, fell_listing


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


def _case_view(case: CaseEntry) -> dict[str, Any]:
    """What the gate compares of a case: each model's scores and answer."""
    return {
        alias: {"scores": dict(sample.scores), "output": sample.output_text}
        for alias, sample in case.samples.items()
    }


def case_digest(case: CaseEntry) -> bytes:
    """A fingerprint of `_case_view`: equal exactly when deepdiff would find no change
    (keys sorted, as deepdiff ignores the order of a mapping)."""
    text = json.dumps(_case_view(case), sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Accepted:
    """The accepted report's rows by case id, with their digests: read from the baseline
    file row by row (`SavedRows`: digests computed once, rows parsed again only when
    asked), or from rows in memory (`deltajudge diff`, a report in another layout)."""

    def __init__(self, cases: Sequence[CaseEntry]) -> None:
        self._cases = cases
        self._saved = cases if isinstance(cases, SavedRows) else None
        if self._saved is not None:
            self.positions = self._saved.positions
        else:
            self.positions = {}
            for i, case in enumerate(cases):
                self.positions[case.id] = i  # a repeated id: the last row, as a dict of them

    def digest(self, position: int) -> bytes:
        if self._saved is not None:
            return self._saved.digest(position)
        return case_digest(self._cases[position])

    def row(self, position: int) -> CaseEntry:
        return self._cases[position]


class _Worst:
    """The `SHOWN` cases that fell the most (the first of equal falls in case order) and
    how many fell: what the listing says, without keeping every row that fell."""

    def __init__(self) -> None:
        self._worst: list[tuple[float, int, CaseEntry, str]] = []
        self.total = 0

    def add(self, previous: CaseEntry, case: CaseEntry) -> None:
        fell = fall_since(previous, case)
        if fell is None:
            return
        self._worst.append((fell[0], self.total, case, fell[1]))
        self.total += 1
        self._worst = sorted(self._worst, key=lambda w: (w[0], w[1]))[:SHOWN]

    def lines(self) -> list[str]:
        return fell_listing([(d, case, what) for d, _, case, what in self._worst], self.total)


def compare_rubric(old: RubricEntry, new: RubricEntry) -> RubricChanges:
    return _compared(old, new)[0]


def _compared(old: RubricEntry, new: RubricEntry) -> tuple[RubricChanges, _Worst]:
    """What changed, and the cases that fell the most, in one pass over ``new``'s rows."""
    changes = RubricChanges(rubric=new.name)
    pairs = {(a, g) for r in (old, new) for a, f in r.models.items() for g in f.graders}
    for alias, grader in sorted(pairs):
        changes.aggregates.append(
            AggregateChange(alias, grader, _mean(old, alias, grader), _mean(new, alias, grader))
        )
    accepted = _Accepted(old.cases)
    seen = bytearray(len(old.cases))
    worst = _Worst()
    for case in new.cases:
        position = accepted.positions.get(case.id)
        if position is None:
            changes.cases_added.append(case.id)
            continue
        seen[position] = 1
        if case_digest(case) == accepted.digest(position):
            continue
        previous = accepted.row(position)
        _record(changes, {case.id: _case_view(previous)}, {case.id: _case_view(case)})
        worst.add(previous, case)
    changes.cases_removed = [i for i, p in accepted.positions.items() if not seen[p]]
    return changes, worst


def _record(changes: RubricChanges, old: dict[str, Any], new: dict[str, Any]) -> None:
    """One case's differences, from deepdiff's tree (paths: case id, alias, field, grader)."""
    for nodes in DeepDiff(old, new, view="tree").values():
        for node in nodes:
            path = node.path(output_format="list")
            if len(path) >= 3 and path[2] == "output":
                changes.outputs_changed.append(f"{path[0]} / {path[1]}")
            elif len(path) >= 4 and path[2] == "scores":
                changes.scores_changed.append(
                    f"{path[0]} / {path[1]} / {path[3]}: {node.t1} -> {node.t2}"
                )


def _mean(rubric: RubricEntry, alias: str, grader: str) -> float | None:
    figures = rubric.models.get(alias)
    found = figures.graders.get(grader) if figures else None
    return found.mean if found else None


def baseline_verdict(old: Report, rubric: RubricEntry, tolerance: float) -> tuple[bool, str]:
    """Pass/fail and the words for the ``baseline`` gate of one rubric."""
    previous = next((r for r in old.rubrics if r.name == rubric.name), None)
    if previous is None:
        return False, f"the baseline report has no rubric named {rubric.name!r}"
    changes, worst = _compared(previous, rubric)
    fell = changes.fell(tolerance)
    head = (
        f"{len(fell)} aggregate(s) fell by more than {tolerance:g}"
        if fell
        else f"no aggregate fell by more than {tolerance:g}"
    )
    return not fell, "\n".join([head, *worst.lines(), *changes.lines(tolerance)])


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
