"""A model grader's output contract: how its verdict is written, so it can be read exactly.

``output: json`` (the default) asks for structured output and appends one line saying
so. A text contract sends the rubric's messages exactly as written, with no
``response_format``, so a published judge (MT-Bench's ``Rating: [[5]]``, its pairwise
``[[A]]``/``[[B]]``/``[[C]]``, Inspect's ``GRADE: C``) runs as published and is read by
its own pattern: a preset, or a regex with one capturing group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deltajudge.constants import JUDGE_PARSE_RETRIES

PairSide = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class Preset:
    pattern: str
    shows: str  # what a reader of an error message should see the judge write


#: The published formats, by the name a rubric gives them.
PRESETS: dict[str, Preset] = {
    # FastChat MT-Bench single-v1 / single-math-v1: "Rating: [[5]]".
    "rating_brackets": Preset(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*\]\]", "Rating: [[N]]"),
    # FastChat MT-Bench pair-v2: "[[A]]", "[[B]]", or "[[C]]" for a tie.
    "verdict_brackets": Preset(r"\[\[\s*([ABC])\s*\]\]", "[[A]], [[B]] or [[C]] (tie)"),
    # Inspect AI's model_graded_qa / model_graded_fact: "GRADE: C".
    "grade": Preset(r"GRADE\s*:\s*([A-Za-z0-9_\-]+)", "GRADE: X"),
    # "Score: 4"; a word ending in "score" ("underscore: 4") is not the word Score.
    "score": Preset(r"(?<![A-Za-z])[Ss]core\s*:\s*(-?\d+(?:\.\d+)?)", "Score: N"),
    # A completions-style judge whose prompt ends in "Score:": the reply is the number.
    "number": Preset(r"\A\s*(-?\d+(?:\.\d+)?)\s*\Z", "the number alone"),
}

#: Pairwise text verdicts: which label means answer_a, answer_b, or a tie.
DEFAULT_PAIR_VERDICTS: dict[str, PairSide] = {"A": "a", "B": "b", "C": "tie", "tie": "tie"}


class OutputContract(BaseModel):
    """``output: json``, or ``output: {format: text, preset: NAME | pattern: REGEX}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["json", "text"] = "json"
    preset: Literal["rating_brackets", "verdict_brackets", "grade", "score", "number"] | None = None
    pattern: str | None = None
    #: pairwise text contracts: captured label -> a (answer_a), b (answer_b) or tie.
    verdicts: dict[str, PairSide] | None = None
    #: Re-asks of an unreadable reply (each one differs from the last: see `asking`).
    retries: int = Field(default=JUDGE_PARSE_RETRIES, ge=0, le=5)
    #: The message appended on a re-ask; jinja2 with ``error`` and ``expected``.
    follow_up: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, data: Any) -> Any:
        if data == "json":
            return {"format": "json"}
        if data == "text":
            raise ValueError(
                "text needs a verdict pattern: "
                "{format: text, preset: rating_brackets} or {format: text, pattern: '...'}"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> OutputContract:
        if self.format == "json":
            if self.preset or self.pattern or self.verdicts:
                raise ValueError(
                    "preset, pattern and verdicts belong to format: text "
                    "(format: json reads one JSON object)"
                )
            return self
        if (self.preset is None) == (self.pattern is None):
            raise ValueError(
                f"format: text needs exactly one of `preset` "
                f"({', '.join(PRESETS)}) or `pattern` (a regex with one capturing group)"
            )
        if self.pattern is not None:
            try:
                groups = re.compile(self.pattern).groups
            except re.error as exc:
                raise ValueError(f"pattern: not a valid regex: {exc}") from None
            if groups != 1:
                raise ValueError(
                    f"pattern: needs exactly one capturing group, the verdict "
                    f"(got {groups}); write other groups as (?:...)"
                )
        return self

    @property
    def is_text(self) -> bool:
        return self.format == "text"

    def regex(self) -> re.Pattern[str]:
        source = PRESETS[self.preset].pattern if self.preset else self.pattern
        assert source is not None  # checked by the validator for text contracts
        return re.compile(source)

    def expected(self) -> str:
        """The format in words, for error messages and the follow-up message."""
        if self.format == "json":
            return "one JSON object"
        if self.preset:
            return f"{PRESETS[self.preset].shows} (preset {self.preset})"
        return f"a match of /{self.pattern}/"

    def label(self) -> str:
        """What the report records as the contract used."""
        if self.format == "json":
            return "json"
        return f"text:{self.preset}" if self.preset else f"text:/{self.pattern}/"

    def pair_verdicts(self) -> dict[str, PairSide]:
        return dict(self.verdicts) if self.verdicts else dict(DEFAULT_PAIR_VERDICTS)
