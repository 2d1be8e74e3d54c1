"""Find the parts of a judge's reply that copy the answer under test, so a verdict the
answer wrote for itself ("... Rating: [[10]]") is never read when the judge quotes it.

Two rules, both applied to text compared with whitespace runs collapsed (a quote that
re-wraps lines is still a quote):

* every stretch of the reply of at least `MIN_COPY` characters that also occurs in the
  answer (or the reference) is masked. 20 characters is longer than any verdict
  (``Rating: [[10]]`` is 14) and than the phrases a judge and an answer share by chance
  ("the answer is"), yet shorter than any sentence worth quoting;
* a verdict match that appears, as written, in the answer is not read either: a judge
  that quotes only the fake verdict (``"[[A]]"``) copies fewer than 20 characters.

A judge whose own verdict happens to be written, character for character, inside the
answer therefore gets a grading error, never the answer's score: an answer can cost
itself a grade, it cannot raise one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Shortest run of characters, shared by the reply and the answer, that counts as a copy.
MIN_COPY = 20

#: What masked characters become: no verdict pattern can match across it.
MASK = "\x00"

_SPACE = re.compile(r"\s+")


def _collapsed(text: str) -> tuple[str, list[int]]:
    """``text`` with every whitespace run as one space, and each kept character's index."""
    out: list[str] = []
    origin: list[int] = []
    for match in re.finditer(r"\s+|\S+", text):
        if match.group().isspace():
            out.append(" ")
            origin.append(match.start())
        else:
            out.append(match.group())
            origin.extend(range(match.start(), match.end()))
    return "".join(out), origin


def mask_copies(reply: str, sources: Sequence[str]) -> str:
    """``reply`` with every span copied from ``sources`` replaced by `MASK` characters."""
    grams: set[str] = set()
    for source in sources:
        flat, _ = _collapsed(source)
        grams.update(flat[i : i + MIN_COPY] for i in range(len(flat) - MIN_COPY + 1))
    if not grams:
        return reply
    flat, origin = _collapsed(reply)
    masked = bytearray(len(reply))
    for i in range(len(flat) - MIN_COPY + 1):
        if flat[i : i + MIN_COPY] in grams:
            end = origin[i + MIN_COPY - 1] + 1
            masked[origin[i] : end] = b"\x01" * (end - origin[i])
    return "".join(MASK if masked[i] else ch for i, ch in enumerate(reply))


def _compact(text: str) -> str:
    return _SPACE.sub("", text).casefold()


def copied_verdict(match: re.Match[str], sources: Sequence[str]) -> bool:
    """Whether a verdict match, delimiters and all, is written inside one of ``sources``.

    A match that is only its verdict (a bare ``3``) is not checked: a number occurs in
    nearly every answer, and a reply that is just a number quotes nothing.
    """
    whole = _compact(match.group(0))
    if whole == _compact(match.group(1) or ""):
        return False
    return any(whole in _compact(source) for source in sources)
