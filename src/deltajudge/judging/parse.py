"""Read a score out of a judge's answer.

Structured outputs make this a ``json.loads`` for endpoints that support them; for the
rest (older servers, base models) a JSON object anywhere in the text, then a trailing
``score: N``, are accepted. Anything else is a grading error, never a zero.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_SCORE = re.compile(r"score\W{0,3}\s*[:=]?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


@dataclass(frozen=True)
class Parsed:
    value: Any
    reasoning: str | None


class JudgeParseError(ValueError):
    def __init__(self, message: str, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


def parse_judge_answer(text: str, field: str = "score") -> Parsed:
    stripped = _FENCE.sub("", text.strip())
    obj = _as_object(stripped)
    if obj is None or field not in obj:  # e.g. {"verdict": {"reasoning": ..., "score": 3}}
        obj = _last_object(stripped, field)
    if obj is not None:
        reasoning = obj.get("reasoning")
        return Parsed(obj[field], str(reasoning) if reasoning is not None else None)
    if field == "score":
        if _BARE_NUMBER.fullmatch(stripped):  # a completions-style judge: "Score:" -> " 3"
            return Parsed(float(stripped), None)
        matches = _SCORE.findall(stripped)
        if matches:
            return Parsed(float(matches[-1]), stripped)
    excerpt = text.strip().replace("\n", " ")[:160]
    raise JudgeParseError(f"judge gave no {field} (answer: {excerpt!r})")


def _as_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _last_object(text: str, field: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    found = None
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and field in value:
            found = value
    return found


def as_score(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool):  # JSON true is not a score of 1
        raise JudgeParseError(f"score {value!r} is not a number")
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise JudgeParseError(f"score {value!r} is not a number") from None
    if not low <= score <= high:
        raise JudgeParseError(f"score {score:g} is outside the range [{low:g}, {high:g}]")
    return score
