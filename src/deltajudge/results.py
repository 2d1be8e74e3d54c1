"""What a run produced: per rubric, per case, each model's answer and each grader's grade.

Everything downstream (statistics, gates, reports, pytest items) reads these objects;
nothing downstream calls a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

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


class Spill(Protocol):
    """Where a run's finished cases go so that memory holds only their place
    (`deltajudge.results_writer`: the line of results.jsonl each was written to)."""

    def write(self, result: CaseResult) -> int: ...

    def read(self, place: int, case: Case) -> CaseResult: ...


class CaseResults(Mapping[str, CaseResult]):
    """A rubric's finished cases by id: held as objects, or, with a `Spill`, written out
    as each finishes and read back when asked for. A 100,000-case run then keeps ~100
    bytes a case instead of every answer and grade; readers see the same mapping."""

    def __init__(
        self, held: Mapping[str, CaseResult] | None = None, spill: Spill | None = None
    ) -> None:
        self._places: dict[str, CaseResult | int] = dict(held or {})
        self._spill = spill
        self._cases: dict[str, Case] = {}
        #: the last case read back: a case item asks for its result, then its verdict
        self._last: CaseResult | None = None

    @classmethod
    def placed(cls, places: Iterable[tuple[Case, int]], spill: Spill) -> CaseResults:
        """Cases already in ``spill`` (a merge's shard files): only their places are kept,
        and each case is read from there when asked for."""
        found = cls(spill=spill)
        for case, place in places:
            found._places[case.id] = place
            found._cases[case.id] = case
        return found

    def add(self, result: CaseResult) -> None:
        case = result.case
        if self._spill is None:
            self._places[case.id] = result
        else:
            self._places[case.id] = self._spill.write(result)
            self._cases[case.id] = case

    def __getitem__(self, case_id: str) -> CaseResult:
        place = self._places[case_id]
        if isinstance(place, CaseResult):
            return place
        assert self._spill is not None
        if self._last is None or self._last.case.id != case_id:
            self._last = self._spill.read(place, self._cases[case_id])
        return self._last

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._places

    def __iter__(self) -> Iterator[str]:
        return iter(self._places)

    def __len__(self) -> int:
        return len(self._places)

    def ordered(self, cases: list[Case]) -> None:
        """Keep the data set's order (``cases``), not the order the cases finished in,
        so the figures never depend on timing."""
        self._places = {c.id: self._places[c.id] for c in cases if c.id in self._places}


@dataclass
class RubricRun:
    loaded: LoadedRubric
    selected: list[Case]
    cases: CaseResults = field(default_factory=CaseResults)
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
