"""Read a verdict out of a judge's reply, by the grader's declared output contract only.

JSON: the reply is one JSON object (surrounding whitespace and one code fence allowed);
anything else is a parse failure, never a search for an object somewhere in the text,
which is where a quoted answer's ``{"score": 10}`` would be. Text: the last match of the
contract's pattern outside the spans that copy the answer (see `copies`). There is no
free-prose fallback: a number the judge did not write as its verdict is never read.
Anything unreadable is a grading error, never a zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltajudge.judging.contracts import OutputContract
from deltajudge.judging.copies import copied_verdict, mask_copies

#: Characters of a reply's end that an error shows: published judges put the verdict last.
TAIL_CHARS = 200

#: A verdict line's lead-in ("Rating: ", "My final verdict: ") is left out of the reasoning.
_LEAD_IN = 24

_FENCED = re.compile(r"\A```[A-Za-z]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    value: Any
    reasoning: str | None


class JudgeParseError(ValueError):
    """``retry`` False: asking again cannot help (the endpoint lacks a feature)."""

    def __init__(self, message: str, raw: str | None = None, *, retry: bool = True) -> None:
        super().__init__(message)
        self.raw = raw
        self.retry = retry


def tail(text: str) -> str:
    """The end of a reply on one line, where a published judge writes its verdict."""
    flat = " ".join(text.split())
    return flat if len(flat) <= TAIL_CHARS else "…" + flat[-TAIL_CHARS:]


def _unreadable(expected: str, text: str, why: str = "") -> JudgeParseError:
    detail = f" {why}" if why else ""
    return JudgeParseError(f"expected {expected}{detail}; the reply ends: {tail(text)!r}")


def parse_json_verdict(text: str, field: str = "score") -> Parsed:
    """The ``field`` of the one JSON object the reply is, and its ``reasoning``."""
    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group(1).strip()
    expected = f'one JSON object with "{field}"'
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        raise _unreadable(expected, text, "and nothing else") from None
    if not isinstance(value, dict) or field not in value:
        raise _unreadable(expected, text)
    reasoning = value.get("reasoning")
    return Parsed(value[field], str(reasoning) if reasoning is not None else None)


def parse_text_verdict(text: str, contract: OutputContract, copied_from: Sequence[str]) -> Parsed:
    """The last match of the contract's pattern that is the judge's own words.

    ``copied_from`` are the texts under judgment (the answer or answers, the reference):
    a match inside a copy of them is the answer speaking, not the judge.
    """
    sources = [s for s in copied_from if s]
    masked = mask_copies(text, sources)
    matches = list(contract.regex().finditer(masked))
    own = [m for m in matches if not copied_verdict(m, sources)]
    if not own:
        ignored = len(contract.regex().findall(text))  # own is empty: all were copies
        why = f"({ignored} inside text copied from the answer, not read)" if ignored else ""
        raise _unreadable(contract.expected(), text, why)
    last = own[-1]
    return Parsed(last.group(1), _before(text, last.start()))


def _before(text: str, verdict_at: int) -> str | None:
    """What the judge wrote before its verdict, less a short lead-in like ``Rating:``."""
    line_start = text.rfind("\n", 0, verdict_at) + 1
    cut = line_start if verdict_at - line_start <= _LEAD_IN else verdict_at
    return text[:cut].strip() or None


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
