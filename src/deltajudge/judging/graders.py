"""Graders are small async callables ``(case, sample) -> Grade``; this builds them.

A custom grader is just such a function: `python` graders call yours with
``(sample, item)``. Pairwise graders see two answers and are built by `build_pair_grader`.
"""

from __future__ import annotations

import asyncio

from deltajudge.cases import Case
from deltajudge.generation.caller import Caller
from deltajudge.judging.code_graders import (
    GraderFn,
    python_grader,
    string_check,
    text_similarity,
)
from deltajudge.judging.formula import check_formula, evaluate
from deltajudge.judging.grader_specs import (
    GraderSpec,
    LabelModelGrader,
    MultiGrader,
    PairwiseGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from deltajudge.judging.model_graders import label_model, score_model
from deltajudge.judging.pairwise import PairGraderFn, pairwise
from deltajudge.judging.types import Grade, Sample

__all__ = ["GraderFn", "PairGraderFn", "build_grader", "build_pair_grader"]


def multi(spec: MultiGrader, caller: Caller) -> GraderFn:
    tree = check_formula(spec.calculate_output, set(spec.graders))
    parts = {name: build_grader(sub, caller) for name, sub in spec.graders.items()}

    async def grade(case: Case, sample: Sample) -> Grade:
        names = list(parts)
        grades = await asyncio.gather(*(parts[n](case, sample) for n in names))
        by_name = dict(zip(names, grades, strict=True))
        failed = {n: g.error for n, g in by_name.items() if not g.ok}
        if failed:
            name, error = next(iter(failed.items()))
            return Grade(error=f"sub-grader {name} failed: {error}")
        values = {n: g.score for n, g in by_name.items() if g.score is not None}
        try:
            score = evaluate(tree, values)
        except (ArithmeticError, ValueError) as exc:
            return Grade(error=f"calculate_output failed: {exc}")
        passed = None if spec.pass_threshold is None else score >= spec.pass_threshold
        shown = ", ".join(f"{n}={v:g}" for n, v in values.items())
        return Grade(score=score, passed=passed, reasoning=shown, details=values)

    return grade


def build_grader(spec: GraderSpec, caller: Caller) -> GraderFn:
    if isinstance(spec, ScoreModelGrader):
        return score_model(spec, caller)
    if isinstance(spec, LabelModelGrader):
        return label_model(spec, caller)
    if isinstance(spec, StringCheckGrader):
        return string_check(spec)
    if isinstance(spec, PythonGrader):
        return python_grader(spec)
    if isinstance(spec, TextSimilarityGrader):
        return text_similarity(spec, caller)
    if isinstance(spec, MultiGrader):
        return multi(spec, caller)
    raise TypeError(f"{spec.type} graders judge pairs: use build_pair_grader")


def build_pair_grader(spec: PairwiseGrader, caller: Caller) -> PairGraderFn:
    return pairwise(spec, caller)
