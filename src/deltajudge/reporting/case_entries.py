"""A rubric's report rows (`CaseEntry`), made from the run's results when they are read.

A report row is ~5 KB of Python objects; 100,000 of them held at once were most of a big
run's memory. `CaseEntries` keeps only the case ids and builds each row from the case's
result (itself read back from results.jsonl, `deltajudge.results.CaseResults`) each time
a writer walks the rows, so every renderer reads the same rows without anyone holding them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import overload

from deltajudge.gating.outcome import CaseVerdict
from deltajudge.reporting.model import CaseEntry, SampleEntry
from deltajudge.results import CaseResult, RubricRun

#: A case's verdict, as gating decides it (`deltajudge.gating.case_check.case_verdict`).
VerdictOf = Callable[[CaseResult], CaseVerdict]


class Rows(Sequence[CaseEntry]):
    """Report rows each made when read: a subclass says how many and how to make one."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _row(self, index: int) -> CaseEntry:
        raise NotImplementedError

    def pick(self, ids: set[str]) -> dict[str, CaseEntry]:
        """The rows of these case ids, in report order, built for those cases only."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> CaseEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[CaseEntry]: ...

    def __getitem__(self, index: int | slice) -> CaseEntry | list[CaseEntry]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._row(index % len(self))

    def __iter__(self) -> Iterator[CaseEntry]:
        return (self._row(i) for i in range(len(self)))


class CaseEntries(Rows):
    """The rows of ``run``'s evaluated cases in data-set order, built on each read."""

    def __init__(self, run: RubricRun, regressed: set[str], verdict: VerdictOf) -> None:
        self._run = run
        self._ids = [c.id for c in run.selected if c.id in run.cases]
        self._regressed = regressed
        self._verdict = verdict

    def __len__(self) -> int:
        return len(self._ids)

    def _row(self, index: int) -> CaseEntry:
        return self._entry(self._ids[index])

    def pick(self, ids: set[str]) -> dict[str, CaseEntry]:
        return {i: self._entry(i) for i in self._ids if i in ids}

    def _entry(self, case_id: str) -> CaseEntry:
        result = self._run.cases[case_id]
        return case_entry(result, self._run, case_id in self._regressed, self._verdict(result))


def pick(cases: Sequence[CaseEntry], ids: set[str]) -> dict[str, CaseEntry]:
    """The rows of these case ids, in report order: built for those cases only when the
    rows are made on demand, found by a pass over them in a report read from disk."""
    if isinstance(cases, Rows):
        return cases.pick(ids)
    return {c.id: c for c in cases if c.id in ids}


def case_entry(
    result: CaseResult, run: RubricRun, regressed: bool, verdict: CaseVerdict | None
) -> CaseEntry:
    rubric = run.loaded.rubric
    samples = {}
    for alias in rubric.models:
        sample = result.samples.get(alias)
        grades = result.grades.get(alias, {})
        samples[alias] = SampleEntry(
            output_text=sample.output_text if sample else "",
            error=sample.error if sample else "not run",
            prompt_tokens=sample.prompt_tokens if sample else 0,
            completion_tokens=sample.completion_tokens if sample else 0,
            cached=sample.cached if sample else False,
            scores={g: grade.score for g, grade in grades.items()},
            passed={g: grade.passed for g, grade in grades.items()},
            reasoning={g: grade.reasoning for g, grade in grades.items()},
            labels={g: grade.label for g, grade in grades.items() if grade.label is not None},
            grade_errors={g: grade.error for g, grade in grades.items() if grade.error},
            raw={g: grade.raw for g, grade in grades.items() if grade.raw is not None},
            turns=list(sample.turns) if sample else [],
        )
    deltas: dict[str, dict[str, float | None]] = {}
    for candidate in rubric.candidates:
        deltas[candidate] = {}
        for grader in rubric.graders:
            b = samples[rubric.baseline].scores.get(grader.name)
            c = samples[candidate].scores.get(grader.name)
            deltas[candidate][grader.name] = c - b if b is not None and c is not None else None
    case = result.case
    return CaseEntry(
        id=case.id,
        prompt=case.prompt,
        reference=case.reference,
        line=case.line,
        samples=samples,
        deltas=deltas,
        regressed=regressed,
        errors=result.errors(),
        verdict=verdict,
    )
