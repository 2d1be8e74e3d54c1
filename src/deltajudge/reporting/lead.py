"""What a report leads with: the verdict, who was compared, what it cost, the worst cases.

A reader opens a report to learn one thing, whether the candidate may ship. So the top
of report.html and the first lines of summary.md say what the gates decided (in the HTML
the page's only large coloured banner, red when any gate failed), then the models by
alias *and* model id with n, the headline delta of each comparison in
`deltajudge.reporting.markdown`'s words, tokens and dollars per model, and the worst
regressions with the judge's reasons. Everything here is read from the `Report`; nothing
is recomputed, and both renderers take the same rows from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from deltajudge.gating.outcome import GateResult
from deltajudge.reporting.case_entries import pick
from deltajudge.reporting.model import (
    CaseEntry,
    ComparisonEntry,
    Regression,
    Report,
    RubricEntry,
)

#: Regressions listed on the first screen, worst first; the cases table has the rest.
TOP_REGRESSIONS = 5


@dataclass(frozen=True)
class GateVerdict:
    """All gates of the run, and the failed ones by rubric, for the banner."""

    total: int
    failed: list[tuple[str, GateResult]]

    @property
    def state(self) -> str:
        """``pass``, ``fail`` or ``none`` (no gate: nothing decides pass/fail)."""
        return "none" if not self.total else "fail" if self.failed else "pass"

    @property
    def text(self) -> str:
        if not self.total:
            return "No gates: this run cannot fail CI"
        if self.failed:
            return f"✗ {len(self.failed)} of {self.total} gates failed"
        return f"✓ All {self.total} gates passed"


@dataclass(frozen=True)
class ModelRow:
    alias: str
    roles: str
    model: str
    tokens: str
    calls: str
    cost: str


@dataclass(frozen=True)
class RegressionRow:
    case_id: str
    rubric: str
    what: str  # "candidate / tone"
    delta: float
    prompt: str
    baseline: str
    candidate: str
    baseline_reason: str | None
    candidate_reason: str | None


def gate_verdict(report: Report) -> GateVerdict:
    gates = [(r.name, g) for r in report.rubrics for g in r.gates]
    return GateVerdict(total=len(gates), failed=[(name, g) for name, g in gates if not g.passed])


def _cost(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:,.4f}"


def model_rows(report: Report, roles: dict[str, list[str]]) -> list[ModelRow]:
    """Every alias that ran (baselines, candidates, judges) with its id and what it cost."""
    rows = []
    for alias, info in report.models.items():
        t = info.tokens
        rows.append(
            ModelRow(
                alias=alias,
                roles=", ".join(roles.get(alias, [])),
                model=info.model,
                tokens=f"{t.prompt_tokens:,} + {t.completion_tokens:,}",
                calls=f"{t.calls:,} ({t.cached_calls:,} cached)",
                cost=_cost(t.cost_usd),
            )
        )
    return rows


def total_cost(report: Report) -> str:
    """The run's spend: the sum of the priced aliases, saying when some had no price."""
    costs = [m.tokens.cost_usd for m in report.models.values() if m.tokens.calls]
    known = [c for c in costs if c is not None]
    unknown = len(costs) - len(known)
    if not known:
        return "price unknown" if costs else _cost(0.0)
    return _cost(sum(known)) + (
        f" + {unknown} unpriced {'model' if unknown == 1 else 'models'}" if unknown else ""
    )


def _reason(case: CaseEntry, alias: str, grader: str) -> tuple[str, str | None]:
    sample = case.samples.get(alias)
    if sample is None:
        return "", None
    return sample.output_text, sample.reasoning.get(grader) or sample.grade_errors.get(grader)


def regressions(rubric: RubricEntry, limit: int | None = None) -> list[RegressionRow]:
    """The regressions of every comparison of ``rubric``, worst drop first (the first
    ``limit`` of them)."""
    return _rows(
        [(rubric, comp, reg) for comp in rubric.comparisons for reg in comp.regressions], limit
    )


def worst_regressions(
    report: Report, limit: int = TOP_REGRESSIONS
) -> tuple[list[RegressionRow], int]:
    """The ``limit`` largest drops over every rubric and comparison, and how many there are."""
    found = [
        (rubric, comp, reg)
        for rubric in report.rubrics
        for comp in rubric.comparisons
        for reg in comp.regressions
    ]
    return _rows(found, limit), len(found)


def _rows(
    found: list[tuple[RubricEntry, ComparisonEntry, Regression]], limit: int | None
) -> list[RegressionRow]:
    """The rows of the worst ``limit`` regressions: ranked on the comparisons' own lists,
    so only the rows shown are built (a big run may have tens of thousands of regressions,
    each row holding both answers)."""
    found.sort(key=lambda f: f[2].delta)  # stable: comparison order among equal drops
    shown = found[:limit]
    cases: dict[int, dict[str, CaseEntry]] = {}
    for rubric in {id(r): r for r, _, _ in shown}.values():
        cases[id(rubric)] = pick(rubric.cases, {reg.id for r, _, reg in shown if r is rubric})
    rows = []
    for rubric, comp, reg in shown:
        case = cases[id(rubric)].get(reg.id)
        if case is None:
            continue
        base_text, base_reason = _reason(case, comp.baseline, comp.grader)
        cand_text, cand_reason = _reason(case, comp.candidate, comp.grader)
        rows.append(
            RegressionRow(
                case_id=case.id,
                rubric=rubric.name,
                what=f"{comp.candidate} / {comp.grader}",
                delta=reg.delta,
                prompt=case.prompt,
                baseline=base_text,
                candidate=cand_text,
                baseline_reason=base_reason,
                candidate_reason=cand_reason,
            )
        )
    return rows
