"""Judge noise: re-judge a sample of answers a few times and keep every score.

Users' first complaint about LLM judges is that the same answer scores differently
on two runs. Measuring that spread says how big a delta this many cases can detect.
Repeats use a different cache key (a repeat index), so they are real new judgments.
"""

from __future__ import annotations

import asyncio
import random

from deltajudge.constants import BOOTSTRAP_SEED
from deltajudge.generation.caller import Caller
from deltajudge.judging.model_graders import score_model
from deltajudge.judging.rubric import Rubric, ScoreModelGrader
from deltajudge.results import RubricRun


def noise_grader(rubric: Rubric) -> ScoreModelGrader:
    check = rubric.noise_check
    assert check is not None
    for grader in rubric.graders:
        if isinstance(grader, ScoreModelGrader) and (check.grader in (None, grader.name)):
            return grader
    raise ValueError("noise_check needs a score_model grader")


async def measure_noise(run: RubricRun, caller: Caller) -> None:
    rubric = run.loaded.rubric
    check = rubric.noise_check
    assert check is not None
    spec = noise_grader(rubric)
    usable = [
        (case_id, alias)
        for case_id, result in run.cases.items()
        for alias in rubric.models
        if (grade := result.grade(alias, spec.name)) is not None and grade.ok
    ]
    case_ids = sorted({case_id for case_id, _ in usable})
    chosen = set(random.Random(BOOTSTRAP_SEED).sample(case_ids, min(check.cases, len(case_ids))))
    targets = [(c, a) for c, a in usable if c in chosen]
    repeats = [score_model(spec, caller, repeat=r) for r in range(1, check.repeats)]

    async def rejudge(case_id: str, alias: str) -> None:
        result = run.cases[case_id]
        grades = await asyncio.gather(
            *(grader(result.case, result.samples[alias]) for grader in repeats)
        )
        first = result.grade(alias, spec.name)
        assert first is not None and first.score is not None
        scores = [first.score] + [g.score for g in grades if g.ok and g.score is not None]
        run.noise[(case_id, alias)] = scores

    run.noise_grader = spec.name
    await asyncio.gather(*(rejudge(c, a) for c, a in targets))
