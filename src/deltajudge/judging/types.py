"""`Sample` (one model's answer to one case) and `Grade` (one grader's verdict on it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    alias: str
    output_text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None
    #: A multi-turn case: the answer to each user turn, in order (the last is
    #: ``output_text``). Empty for a single-turn case.
    turns: tuple[str, ...] = ()

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer to every turn, one for a single-turn case."""
        return self.turns or (self.output_text,)


@dataclass(frozen=True)
class Grade:
    """A score with its reasons, or an error saying why there is no score.

    "Could not score" is never 0: ``score`` is None and ``error`` says why, and the
    statistics leave the case out and count it.
    """

    score: float | None = None
    passed: bool | None = None
    reasoning: str | None = None
    label: str | None = None
    raw: str | None = None
    error: str | None = None
    samples: tuple[float, ...] = field(default=())
    details: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.score is not None
