"""From one rubric's results to its figures: per model, and per candidate against the baseline.

Cases where either side of a pair has no score (a generation or grading error) are left
out of that pair's figures and counted in ``errors``, so a report never averages an
error in as a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deltajudge.results import CaseResult, RubricRun
from deltajudge.stats.aggregates import PassRate, Summary, pass_rate, summarize
from deltajudge.stats.length import LengthEffect, length_effect
from deltajudge.stats.paired import McNemar, PairedComparison, compare_paired, mcnemar, regressions

#: A case "regressed" when the candidate fell this far below the baseline, unless the
#: rubric's case_check says otherwise.
DEFAULT_REGRESSION_TOLERANCE = 1.0


@dataclass(frozen=True)
class ModelGraderStats:
    summary: Summary
    pass_rate: PassRate | None
    errors: int
    mean_length: float | None


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    grader: str
    paired: PairedComparison
    errors: int
    mcnemar: McNemar | None
    length: LengthEffect
    regressions: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class RubricStats:
    models: dict[str, dict[str, ModelGraderStats]]
    comparisons: list[Comparison]


def _score(result: CaseResult, alias: str, grader: str) -> float | None:
    grade = result.grade(alias, grader)
    return grade.score if grade is not None and grade.ok else None


def _model_stats(
    run: RubricRun, alias: str, grader: str, threshold: float | None
) -> ModelGraderStats:
    scores, lengths, passes = [], [], []
    errors = 0
    for result in run.cases.values():
        score = _score(result, alias, grader)
        if score is None:
            errors += 1
            continue
        scores.append(score)
        lengths.append(len(result.samples[alias].output_text))
        if threshold is not None:
            passes.append(score >= threshold)
    return ModelGraderStats(
        summary=summarize(scores),
        pass_rate=pass_rate(passes) if threshold is not None else None,
        errors=errors,
        mean_length=sum(lengths) / len(lengths) if lengths else None,
    )


def _compare(
    run: RubricRun,
    baseline: str,
    candidate: str,
    grader: str,
    threshold: float | None,
    tolerance: float,
) -> Comparison:
    ids, base, cand, base_len, cand_len = [], [], [], [], []
    errors = 0
    for case_id, result in run.cases.items():
        b, c = _score(result, baseline, grader), _score(result, candidate, grader)
        if b is None or c is None:
            errors += 1
            continue
        ids.append(case_id)
        base.append(b)
        cand.append(c)
        base_len.append(len(result.samples[baseline].output_text))
        cand_len.append(len(result.samples[candidate].output_text))
    flips = None
    if threshold is not None:
        flips = mcnemar([s >= threshold for s in base], [s >= threshold for s in cand])
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        grader=grader,
        paired=compare_paired(base, cand),
        errors=errors,
        mcnemar=flips,
        length=length_effect(base, cand, base_len, cand_len),
        regressions=regressions(ids, base, cand, tolerance=tolerance),
    )


def analyze(run: RubricRun) -> RubricStats:
    rubric = run.loaded.rubric
    check = rubric.case_check
    tolerance = (
        check.no_drop_beyond
        if check and check.no_drop_beyond is not None
        else DEFAULT_REGRESSION_TOLERANCE
    )
    models = {
        alias: {
            g.name: _model_stats(run, alias, g.name, g.pass_threshold_value) for g in rubric.graders
        }
        for alias in rubric.models
    }
    comparisons = [
        _compare(run, rubric.baseline, candidate, g.name, g.pass_threshold_value, tolerance)
        for candidate in rubric.candidates
        for g in rubric.graders
    ]
    return RubricStats(models=models, comparisons=comparisons)
