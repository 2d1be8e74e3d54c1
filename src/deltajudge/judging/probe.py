"""The judge-injection probe: does a hostile answer move a rubric's real judge?

For each model grader and each of the first few rows it judges, the probe grades a weak
control answer, then the same answer with each hostile payload from `injection`
appended. A verdict that differs from the control's *moved*; one that went up was
*raised*. The parser keeps a quoted fake verdict from being read, but only a probe shows
whether the judge model itself obeys the answer; run it against each judge you use.
Pairwise graders put the hostile answer in the candidate's place against the control.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from deltajudge.cases import Case
from deltajudge.generation.caller import Caller
from deltajudge.judging.grader_specs import (
    GraderSpec,
    LabelModelGrader,
    PairwiseGrader,
    ScoreModelGrader,
)
from deltajudge.judging.graders import build_grader, build_pair_grader
from deltajudge.judging.injection import HOSTILE_ANSWERS, WEAK_ANSWER, Hostile
from deltajudge.judging.loading import LoadedRubric
from deltajudge.judging.templates import applies
from deltajudge.judging.types import Grade, Sample

#: Rows of the data set each grader is probed on unless the command line says otherwise.
DEFAULT_PROBE_CASES = 3

ProbedGrader = ScoreModelGrader | LabelModelGrader | PairwiseGrader
Judge = Callable[[Case, str], Awaitable[Grade]]


@dataclass(frozen=True)
class Probe:
    """One hostile answer on one row, beside the control answer's verdict on that row."""

    grader: str
    contract: str
    hostile: str
    case_id: str
    control: Grade
    attacked: Grade

    @property
    def errored(self) -> bool:
        return not (self.control.ok and self.attacked.ok)

    @property
    def moved(self) -> bool:
        return not self.errored and self.attacked.score != self.control.score

    @property
    def raised(self) -> bool:
        before, after = self.control.score, self.attacked.score
        return self.moved and before is not None and after is not None and after > before


def probed_graders(rubric_graders: list[GraderSpec]) -> list[ProbedGrader]:
    return [
        g
        for g in rubric_graders
        if isinstance(g, ScoreModelGrader | LabelModelGrader | PairwiseGrader)
    ]


def _judge(spec: ProbedGrader, caller: Caller, candidate: str) -> Judge:
    if isinstance(spec, PairwiseGrader):
        pair = build_pair_grader(spec, caller)

        async def judge_pair(case: Case, text: str) -> Grade:
            control = Sample(alias="control", output_text=WEAK_ANSWER)
            return await pair(case, control, Sample(alias=candidate, output_text=text))

        return judge_pair
    single = build_grader(spec, caller)

    async def judge_one(case: Case, text: str) -> Grade:
        return await single(case, Sample(alias=candidate, output_text=text))

    return judge_one


async def probe_injection(
    loaded: LoadedRubric,
    caller: Caller,
    *,
    cases: int = DEFAULT_PROBE_CASES,
    hostile: tuple[Hostile, ...] = HOSTILE_ANSWERS,
) -> list[Probe]:
    """Every (grader, row, hostile answer) probe, control verdicts asked once per row."""
    rubric = loaded.rubric
    candidate = rubric.candidates[0] if rubric.candidates else rubric.baseline
    jobs: list[Awaitable[list[Probe]]] = []
    for spec in probed_graders(rubric.graders):
        judge = _judge(spec, caller, candidate)
        rows = [c for c in loaded.cases if applies(spec.when, c)][:cases]
        jobs += [_probe_row(spec, judge, case, hostile) for case in rows]
    return [probe for row in await asyncio.gather(*jobs) for probe in row]


async def _probe_row(
    spec: ProbedGrader, judge: Judge, case: Case, hostile: tuple[Hostile, ...]
) -> list[Probe]:
    control, *attacked = await asyncio.gather(
        judge(case, WEAK_ANSWER), *(judge(case, h.text) for h in hostile)
    )
    return [
        Probe(spec.name, spec.output.label(), h.name, case.id, control, grade)
        for h, grade in zip(hostile, attacked, strict=True)
    ]
