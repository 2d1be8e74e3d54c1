"""The one versioned report. ``report.json`` is this model; every other rendering
(terminal, Markdown, HTML, diffs against a baseline) is made from it, so a report can be
re-rendered or compared later without calling a model.

Bump `deltajudge.constants.REPORT_SCHEMA_VERSION` on any change that breaks a reader.
Verdicts (a comparison's, a case's, each gate's) are the `deltajudge.gating.outcome`
values themselves, decided once in `deltajudge.gating` and held here as they are.
Version 2 added fields only; a version 1 file reads with them empty (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deltajudge.gating.outcome import CaseVerdict, CheckpointSweep, GateResult, Verdict
from deltajudge.settings import JobFacts

#: The one gate type: the report holds gating's outcome as it is.
GateEntry = GateResult


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TokenEntry(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    #: USD for the calls made in this run (cached calls are free); None: price unknown.
    cost_usd: float | None = None


class ModelInfo(_Model):
    """An alias as it ran: never a key, only the name of the variable that holds it."""

    model: str
    provider: str
    api: str
    base_url: str | None = None
    label: str | None = None
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    tokens: TokenEntry = Field(default_factory=TokenEntry)
    #: ``model: ftjob:...``: the job that trained it (base model, method, hyperparameters,
    #: trained tokens, job id, checkpoint step); None for any other alias.
    job: JobFacts | None = None


class GraderFigures(_Model):
    n: int
    errors: int = 0
    mean: float | None = None
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    pass_rate: float | None = None
    pass_rate_ci_low: float | None = None
    pass_rate_ci_high: float | None = None
    passed: int | None = None
    mean_length: float | None = None


class ModelFigures(_Model):
    graders: dict[str, GraderFigures] = Field(default_factory=dict)


class Regression(_Model):
    id: str
    delta: float


class ComparisonEntry(_Model):
    baseline: str
    candidate: str
    grader: str
    n: int
    errors: int = 0
    mean_delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    #: two-sided; ``p_better``/``p_worse`` are the one-sided Wilcoxon p-values.
    p_value: float | None = None
    sign_test_p: float | None = None
    wins: int = 0
    ties: int = 0
    losses: int = 0
    win_rate: float | None = None
    p_better: float | None = None
    p_worse: float | None = None
    #: ``exact`` or ``normal``; ``zero_method`` is how ties were treated (``wilcox``).
    wilcoxon_method: str | None = None
    zero_method: str | None = None
    #: chance of detecting a true delta as large as the observed one with these cases.
    power: float | None = None
    mcnemar_fixed: int | None = None
    mcnemar_broken: int | None = None
    mcnemar_p: float | None = None
    baseline_mean_length: float | None = None
    candidate_mean_length: float | None = None
    baseline_length_corr: float | None = None
    candidate_length_corr: float | None = None
    length_adjusted_delta: float | None = None
    length_adjusted_ci_low: float | None = None
    length_adjusted_ci_high: float | None = None
    regressions: list[Regression] = Field(default_factory=list)
    #: when a case counted as regressed, in words (e.g. "a drop of at least 1 scale step").
    regression_rule: str | None = None
    #: better / worse / insufficient evidence, with its reason (None in version 1 files).
    verdict: Verdict | None = None
    #: pairwise graders only: verdicts that flipped when the two answers swapped places.
    inconsistent: int | None = None


class SampleEntry(_Model):
    output_text: str = ""
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    scores: dict[str, float | None] = Field(default_factory=dict)
    passed: dict[str, bool | None] = Field(default_factory=dict)
    reasoning: dict[str, str | None] = Field(default_factory=dict)
    labels: dict[str, str | None] = Field(default_factory=dict)
    grade_errors: dict[str, str] = Field(default_factory=dict)
    #: model graders: the judge's reply exactly as written, read or not.
    raw: dict[str, str] = Field(default_factory=dict)
    #: multi-turn cases: the answer to each user turn (the last is ``output_text``).
    turns: list[str] = Field(default_factory=list)


class CaseEntry(_Model):
    id: str
    prompt: str
    reference: str | None = None
    line: int | None = None
    samples: dict[str, SampleEntry] = Field(default_factory=dict)
    #: candidate alias -> grader -> candidate score minus baseline score
    deltas: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    regressed: bool = False
    errors: list[str] = Field(default_factory=list)
    #: the case item's verdict: passed, and its problems in words (None in version 1).
    verdict: CaseVerdict | None = None


class GraderInfo(_Model):
    name: str
    type: str
    model: str | None = None
    range: list[float] | None = None
    pass_threshold: float | None = None
    #: model graders: the output contract the verdict was read by (``json``, ``text:...``).
    output: str | None = None


class NoiseEntry(_Model):
    """How much the judge disagrees with itself (``noise_check``)."""

    grader: str
    answers: int
    repeats: int
    within_sd: float | None = None
    min_detectable_delta: float | None = None


class Figures(_Model):
    """A rubric's statistics and gate outcomes: everything that needs scipy to compute.

    Kept apart so a rerun with the same scores can replay them from the cache."""

    models: dict[str, ModelFigures]
    comparisons: list[ComparisonEntry]
    gates: list[GateEntry]
    noise: NoiseEntry | None = None
    checkpoints: CheckpointSweep | None = None


class RubricEntry(_Model):
    name: str
    description: str | None = None
    path: str
    sha256: str
    dataset: str
    dataset_sha256: str
    baseline: str
    candidates: list[str]
    cases_total: int
    cases_selected: int
    graders: list[GraderInfo]
    models: dict[str, ModelFigures]
    comparisons: list[ComparisonEntry]
    gates: list[GateEntry]
    noise: NoiseEntry | None = None
    #: ``holm`` when the verdicts' p-values are Holm-adjusted across the comparisons.
    correction: str | None = None
    #: ``compare: checkpoints``: every checkpoint against the final one, and the best.
    checkpoints: CheckpointSweep | None = None
    #: Last, so report.json is written case by case (`reporting.build.write_report_json`).
    #: After a run this is a `deltajudge.reporting.case_entries.CaseEntries`: each row
    #: is built from the run's results when read, so 100,000 rows are never all held.
    cases: Sequence[CaseEntry]


class Report(_Model):
    schema_version: int
    deltajudge_version: str
    created_at: str
    duration_s: float
    git_commit: str | None = None
    offline: bool = False
    calls: int = 0
    cache_hits: int = 0
    notes: list[str] = Field(default_factory=list)
    #: "K/N" for a ``--dj-shard`` run: its figures cover one shard; its gates are not final.
    shard: str | None = None
    models: dict[str, ModelInfo]
    rubrics: list[RubricEntry]

    def rubric(self, name: str) -> RubricEntry:
        return next(r for r in self.rubrics if r.name == name)
