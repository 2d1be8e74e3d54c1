"""From one rubric's results to its figures: per model, and per candidate against the baseline.

Cases where either side of a pair has no score (a generation or grading error) are left
out of that pair's figures and counted in ``errors``, so a report never averages an
error in as a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from deltajudge.results import CaseResult, RubricRun
from deltajudge.stats.aggregates import PassRate, Summary, pass_rate, summarize
from deltajudge.stats.length import LengthEffect, length_effect
from deltajudge.stats.noise import JudgeNoise, judge_noise
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
    #: pairwise graders: verdicts that flipped when the answers swapped places.
    inconsistent: int | None = None


@dataclass(frozen=True)
class NoiseFigures:
    grader: str
    noise: JudgeNoise
    #: candidate -> is |mean delta| above the minimum detectable delta?
    detectable: dict[str, bool | None]


@dataclass(frozen=True)
class RubricStats:
    models: dict[str, dict[str, ModelGraderStats]]
    comparisons: list[Comparison]
    noise: NoiseFigures | None = None


def _score(result: CaseResult, alias: str, grader: str) -> float | None:
    grade = result.grade(alias, grader)
    return grade.score if grade is not None and grade.ok else None


def _pair_score(
    result: CaseResult, baseline: str, candidate: str, grader: str
) -> tuple[float | None, float | None]:
    """A pairwise grade is the candidate's preference over the baseline (+1/0/-1), so
    the pair is (0, preference): the paired statistics then count wins and losses."""
    preference = _score(result, candidate, grader)
    return (0.0 if preference is not None else None), preference


def _model_stats(
    run: RubricRun, alias: str, grader: str, threshold: float | None
) -> ModelGraderStats:
    scores, lengths, passes = [], [], []
    errors = 0
    for result in run.cases.values():
        if result.grade(alias, grader) is None:  # not this grader's row (`when`)
            continue
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
    pairwise: bool = False,
) -> Comparison:
    ids, base, cand, base_len, cand_len = [], [], [], [], []
    errors = 0
    inconsistent = 0
    for case_id, result in run.cases.items():
        if result.grade(candidate, grader) is None:  # not this grader's row (`when`)
            continue
        if pairwise:
            b, c = _pair_score(result, baseline, candidate, grader)
            grade = result.grade(candidate, grader)
            inconsistent += int(grade is not None and grade.details.get("inconsistent", 0) > 0)
        else:
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
        inconsistent=inconsistent if pairwise else None,
    )


def analyze(run: RubricRun) -> RubricStats:
    rubric = run.loaded.rubric
    check = rubric.case_check
    tolerance = (
        check.no_drop_beyond
        if check and check.no_drop_beyond is not None
        else DEFAULT_REGRESSION_TOLERANCE
    )
    pairwise = {g.name for g in rubric.graders if g.type == "pairwise"}
    models = {
        alias: {
            g.name: _model_stats(run, alias, g.name, g.pass_threshold_value)
            for g in rubric.graders
            if not (alias == rubric.baseline and g.name in pairwise)
        }
        for alias in rubric.models
    }
    pairs = [(rubric.baseline, c) for c in rubric.candidates]
    if rubric.compare == "all":
        pairs += list(combinations(rubric.candidates, 2))
    comparisons = [
        _compare(run, b, c, g.name, g.pass_threshold_value, tolerance, pairwise=g.name in pairwise)
        for b, c in pairs
        for g in rubric.graders
        if not (g.name in pairwise and b != rubric.baseline)
    ]
    return RubricStats(models=models, comparisons=comparisons, noise=_noise(run, comparisons))


def _noise(run: RubricRun, comparisons: list[Comparison]) -> NoiseFigures | None:
    if run.noise_grader is None:
        return None
    on_grader = [c for c in comparisons if c.grader == run.noise_grader]
    n_cases = max((c.paired.n for c in on_grader), default=len(run.cases))
    noise = judge_noise(list(run.noise.values()), n_cases=max(n_cases, 1))
    detectable: dict[str, bool | None] = {}
    for c in on_grader:
        if c.baseline == run.loaded.rubric.baseline:
            mdd, delta = noise.min_detectable_delta, c.paired.mean_delta
            detectable[c.candidate] = None if mdd is None or delta is None else abs(delta) > mdd
    return NoiseFigures(grader=run.noise_grader, noise=noise, detectable=detectable)
