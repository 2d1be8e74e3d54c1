"""From one rubric's results to its figures: per model, and per candidate against the baseline.

Cases where either side of a pair has no score (a generation or grading error) are left
out of that pair's figures and counted in ``errors``, so a report never averages an
error in as a zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

from deltajudge.judging.rubric import Rubric
from deltajudge.results import CaseResult, RubricRun
from deltajudge.stats._special import norm_ppf
from deltajudge.stats.aggregates import PassRate, Summary, pass_rate, summarize
from deltajudge.stats.length import LengthEffect, length_effect
from deltajudge.stats.noise import JudgeNoise, judge_noise
from deltajudge.stats.paired import McNemar, PairedComparison, compare_paired, mcnemar, regressions

#: With ``regression_threshold: noise``, a drop counts when judge noise alone would give
#: one this large less than 5% of the time: z(0.975) · √2 · within-answer sd (a delta
#: carries two judgments' noise).
NOISE_Z = norm_ppf(0.975)


@dataclass(frozen=True)
class RegressionRule:
    """When a case counts as regressed, and the words the report uses for it."""

    min_drop: float
    inclusive: bool
    #: a fall from pass to fail also counts
    crossing: bool
    description: str


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
    regression_rule: str = ""
    #: the per-case deltas the figures came from, for tests the gates run on them
    #: (non-inferiority shifts them by the margin); not written to the report.
    deltas: tuple[float, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class NoiseFigures:
    grader: str
    noise: JudgeNoise


@dataclass(frozen=True)
class RubricStats:
    models: dict[str, dict[str, ModelGraderStats]]
    comparisons: list[Comparison]
    noise: NoiseFigures | None = None


def _score(result: CaseResult, alias: str, grader: str) -> float | None:
    grade = result.grade(alias, grader)
    return grade.score if grade is not None and grade.ok else None


def _passed(result: CaseResult, alias: str, grader: str, threshold: float) -> bool:
    """The grader's own pass decision; the threshold is compared here only for a grade
    that carries none (one recorded before graders decided it)."""
    grade = result.grade(alias, grader)
    assert grade is not None and grade.score is not None
    return grade.passed if grade.passed is not None else grade.score >= threshold


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
            passes.append(_passed(result, alias, grader, threshold))
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
    rules: RegressionRules,
    pairwise: bool = False,
) -> Comparison:
    ids, base, cand, base_len, cand_len = [], [], [], [], []
    base_pass: list[bool] = []
    cand_pass: list[bool] = []
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
        if threshold is not None and not pairwise:
            base_pass.append(_passed(result, baseline, grader, threshold))
            cand_pass.append(_passed(result, candidate, grader, threshold))
    flips = mcnemar(base_pass, cand_pass) if threshold is not None and not pairwise else None
    rule = rules.rule(grader, base + cand, crossing=threshold is not None and not pairwise)
    return Comparison(
        baseline=baseline,
        candidate=candidate,
        grader=grader,
        paired=compare_paired(base, cand),
        errors=errors,
        mcnemar=flips,
        length=length_effect(base, cand, base_len, cand_len),
        regressions=regressions(
            ids,
            base,
            cand,
            min_drop=rule.min_drop,
            inclusive=rule.inclusive,
            passes=(base_pass, cand_pass) if rule.crossing else None,
        ),
        inconsistent=inconsistent if pairwise else None,
        regression_rule=rule.description,
        deltas=tuple(c - b for b, c in zip(base, cand, strict=True)),
    )


@dataclass(frozen=True)
class RegressionRules:
    """The rubric's regression rule, resolved per grader against the scores it gave."""

    rubric: Rubric
    noise_grader: str | None
    noise_sd: float | None

    def rule(self, grader: str, scores: list[float], crossing: bool) -> RegressionRule:
        wanted = self.rubric.regression_threshold
        check = self.rubric.case_check
        if wanted is None and check is not None and check.no_drop_beyond is not None:
            wanted = check.no_drop_beyond
        words = " or a fall from pass to fail" if crossing else ""
        if isinstance(wanted, float | int) and not isinstance(wanted, bool):
            return RegressionRule(
                float(wanted), False, crossing, f"a drop of more than {wanted:g}{words}"
            )
        if wanted == "noise" and grader == self.noise_grader and self.noise_sd is not None:
            limit = NOISE_Z * math.sqrt(2.0) * self.noise_sd
            return RegressionRule(
                limit,
                False,
                crossing,
                f"a drop of more than {limit:.3g} (beyond the judge's measured noise){words}",
            )
        if scores and all(float(s).is_integer() for s in scores):
            return RegressionRule(1.0, True, crossing, f"a drop of at least 1 scale step{words}")
        return RegressionRule(0.0, False, crossing, f"any drop{words}")


def analyze(run: RubricRun) -> RubricStats:
    rubric = run.loaded.rubric
    measured = _judge_noise(run, len(run.cases))
    rules = RegressionRules(rubric, run.noise_grader, measured.within_sd if measured else None)
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
    final = rubric.final_checkpoint
    if final is not None:  # each earlier checkpoint against the final: delta = it - final
        pairs += [(final, c) for c in rubric.candidates[:-1]]
    comparisons = [
        _compare(run, b, c, g.name, g.pass_threshold_value, rules, pairwise=g.name in pairwise)
        for b, c in pairs
        for g in rubric.graders
        if not (g.name in pairwise and b != rubric.baseline)
    ]
    return RubricStats(models=models, comparisons=comparisons, noise=_noise(run, comparisons))


def _judge_noise(run: RubricRun, n_cases: int) -> JudgeNoise | None:
    if run.noise_grader is None:
        return None
    return judge_noise(list(run.noise.values()), n_cases=max(n_cases, 1))


def _noise(run: RubricRun, comparisons: list[Comparison]) -> NoiseFigures | None:
    """The judge's noise, its detectable delta computed for the cases the noise grader's
    comparisons actually had (errors excluded)."""
    on_grader = [c for c in comparisons if c.grader == run.noise_grader]
    n_cases = max((c.paired.n for c in on_grader), default=len(run.cases))
    noise = _judge_noise(run, n_cases)
    if noise is None or run.noise_grader is None:
        return None
    return NoiseFigures(grader=run.noise_grader, noise=noise)
