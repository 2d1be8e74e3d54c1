"""What a run produced: per rubric, per case, each model's answer and each grader's grade.

Everything downstream (statistics, gates, reports, pytest items) reads these objects;
nothing downstream calls a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deltajudge.cases import Case
from deltajudge.judging.loading import LoadedRubric
from deltajudge.judging.types import Grade, Sample
from deltajudge.settings import ModelConfig

if TYPE_CHECKING:
    from deltajudge.generation.batch_state import BatchOutcome


@dataclass
class CaseResult:
    case: Case
    samples: dict[str, Sample] = field(default_factory=dict)
    grades: dict[str, dict[str, Grade]] = field(default_factory=dict)  # alias -> grader -> grade

    def grade(self, alias: str, grader: str) -> Grade | None:
        return self.grades.get(alias, {}).get(grader)

    def errors(self) -> list[str]:
        out = [f"{a}: {s.error}" for a, s in self.samples.items() if s.error]
        for alias, by_grader in self.grades.items():
            out += [f"{alias}/{g}: {grade.error}" for g, grade in by_grader.items() if grade.error]
        return out


@dataclass
class RubricRun:
    loaded: LoadedRubric
    selected: list[Case]
    cases: dict[str, CaseResult] = field(default_factory=dict)
    #: noise_check: every score each re-judged answer got, keyed by (case id, alias).
    noise: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    noise_grader: str | None = None

    @property
    def name(self) -> str:
        return self.loaded.name


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    #: USD for the calls made (cached ones are free); None when the price is unknown.
    cost_usd: float | None = None

    def add(self, other: TokenUsage) -> None:
        """Another tally of the same alias (a shard's, the labelled pairs'); the cost is
        unknown once either is."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd = round(self.cost_usd + other.cost_usd, 6)


@dataclass
class RunResults:
    rubrics: list[RubricRun]
    models: dict[str, ModelConfig]
    tokens: dict[str, TokenUsage] = field(default_factory=dict)
    started_at: float = 0.0
    duration_s: float = 0.0
    calls: int = 0
    cache_hits: int = 0
    #: What the run must say once about its endpoints (one went down; 429s throttled one).
    notes: list[str] = field(default_factory=list)
    #: The signal that stopped the run early (``SIGINT``, ``SIGTERM``), and the exit code
    #: the session should end with (130, 143); None and 0 for a run that finished.
    interrupted: str | None = None
    exit_code: int = 0
    #: ``--dj-batch``: the run submitted batches or waits for them, so nothing is decided.
    batch: BatchOutcome | None = None
