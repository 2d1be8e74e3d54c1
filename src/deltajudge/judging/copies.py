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
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache

#: Shortest run of characters, shared by the reply and the answer, that counts as a copy.
MIN_COPY = 20

#: What masked characters become: no verdict pattern can match across it.
MASK = "\x00"

_SPACE = re.compile(r"\s+")
#: Whitespace that collapsing changes the length of: runs of two or more characters.
_LONG_SPACE = re.compile(r"\s{2,}")


@lru_cache(maxsize=256)
def _grams(source: str) -> frozenset[str]:
    """Every `MIN_COPY`-character stretch of ``source`` (whitespace collapsed); cached,
    because each answer is checked by every grader that judges it."""
    flat = _SPACE.sub(" ", source)
    return frozenset(flat[i : i + MIN_COPY] for i in range(len(flat) - MIN_COPY + 1))


def _collapsed(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with whitespace runs as one space, and where the runs longer than one
    character sit: (index in the collapsed text, characters dropped up to there)."""
    at: list[int] = []
    dropped: list[int] = []
    total = 0
    for match in _LONG_SPACE.finditer(text):
        total += len(match.group()) - 1
        at.append(match.start() - (total - len(match.group()) + 1) + 1)
        dropped.append(total)
    return _SPACE.sub(" ", text), at, dropped


def mask_copies(reply: str, sources: Sequence[str]) -> str:
    """``reply`` with every span copied from ``sources`` replaced by `MASK` characters."""
    grams = [g for g in (_grams(s) for s in sources) if g]
    if not grams:
        return reply
    flat, at, dropped = _collapsed(reply)

    def origin(j: int) -> int:  # index in ``reply`` of the collapsed text's character j
        k = bisect_right(at, j)
        return j + (dropped[k - 1] if k else 0)

    runs: list[list[int]] = []  # [start, end) in the collapsed text, merged as found
    for i in range(len(flat) - MIN_COPY + 1):
        window = flat[i : i + MIN_COPY]
        if any(window in g for g in grams):
            if runs and i <= runs[-1][1]:
                runs[-1][1] = i + MIN_COPY
            else:
                runs.append([i, i + MIN_COPY])
    spans = [(origin(start), origin(end - 1) + 1) for start, end in runs]
    if not spans:
        return reply
    out, last = [], 0
    for start, end in spans:
        out += [reply[last:start], MASK * (end - start)]
        last = end
    out.append(reply[last:])
    return "".join(out)


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
