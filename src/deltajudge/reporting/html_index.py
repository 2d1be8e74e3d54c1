"""Which cases the HTML page shows in full, and the searchable index of all of them.

A rendered case (prompt, every answer as a word diff, each judge's reasons) costs about
10 kB of page, so 100,000 of them would make a 1 GB file no browser opens. Past
`DETAIL_CAP` cases the page renders the ones a reader needs (regressions worst first,
then errors, then the largest changes) and carries every case as one line of a compact
JSON block, which the page's script turns into table rows only for what a search
matches. Every case also stays in report.json. One pass over the cases computes all of it.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass

from deltajudge.reporting.html_cases import case_columns, has_error, model_classes
from deltajudge.reporting.model import CaseEntry, RubricEntry

#: Cases rendered in full. Every case stays in report.json and in the searchable index.
DETAIL_CAP = 300
#: Characters of a prompt kept in the searchable index.
INDEX_PROMPT_CHARS = 90


@dataclass(frozen=True)
class CaseSelection:
    """The cases shown in full (regressions first, worst drop first, then data-set order),
    the filter labels' counts over them, and the index of every case (None when every case
    is shown in full anyway)."""

    detailed: list[CaseEntry]
    counts: dict[str, int]
    index_json: str | None


@dataclass(frozen=True, slots=True)
class _Facts:
    regressed: bool
    error: bool
    worst: float  # the largest drop (<= 0), 0 when nothing fell
    change: float  # the largest absolute delta


def _facts(case: CaseEntry) -> _Facts:
    deltas = [d for by in case.deltas.values() for d in by.values() if d is not None]
    low, high = min(deltas, default=0.0), max(deltas, default=0.0)
    return _Facts(case.regressed, has_error(case), min(low, 0.0), max(-low, high))


def select_cases(rubric: RubricEntry, cap: int = DETAIL_CAP) -> CaseSelection:
    """One pass over the rows (after a big run each is built from results.jsonl when
    read): their facts and index lines, then the chosen rows fetched again by position."""
    cases = rubric.cases
    index = _Index(rubric) if len(cases) > cap else None
    facts = []
    for case in cases:
        facts.append(_facts(case))
        if index is not None:
            index.add(case, facts[-1])
    chosen = list(range(len(cases)))
    if len(cases) > cap:
        ranks = (
            (not f.regressed, f.worst if f.regressed else 0.0, not f.error, -f.change, i)
            for i, f in enumerate(facts)
        )
        chosen = sorted(rank[-1] for rank in heapq.nsmallest(cap, ranks))
    shown = sorted(chosen, key=lambda i: (not facts[i].regressed, facts[i].worst))
    detailed = [cases[i] for i in shown]
    counts = {
        "total": len(cases),
        "all": len(detailed),
        "regressions": sum(c.regressed for c in detailed),
        "errors": sum(facts[i].error for i in shown),
    }
    return CaseSelection(detailed, counts, index.json() if index is not None else None)


def _columns(rubric: RubricEntry) -> list[tuple[str, str, str]]:
    """(kind, grader, alias) per index column, in `case_columns` order: ``s`` is a model's
    score, ``d`` a candidate's delta, ``p`` a pairwise grade (the candidate's own score,
    already a delta)."""
    aliases = list(model_classes(rubric))
    out: list[tuple[str, str, str]] = []
    for g in rubric.graders:
        if g.type == "pairwise":
            out += [("p", g.name, c) for c in rubric.candidates]
            continue
        out += [("s", g.name, a) for a in aliases]
        out += [("d", g.name, c) for c in rubric.candidates]
    return out


class _Index:
    """Every case as one compact JSON array, safe inside ``<script type="application/json">``:
    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes, so no data string can close
    the element or open a tag.

    The first row holds the column headings, the second each column's kind (``s`` score,
    ``d``/``p`` signed); then a row per case: ``[id, prompt excerpt, flags, *values]`` with
    flags 1 = regressed, 2 = error and ``null`` where a value is missing (the script
    formats the numbers as the rendered rows do).
    """

    def __init__(self, rubric: RubricEntry) -> None:
        self._columns = _columns(rubric)
        heads = [[f"{g} {label}" for g, label in case_columns(rubric)]]
        heads.append([kind for kind, _, _ in self._columns])
        self._rows = [_compact(row) for row in heads]  # each row's JSON: ~100 B a case

    def add(self, case: CaseEntry, f: _Facts) -> None:
        none: dict[str, float | None] = {}
        scores = {alias: sample.scores for alias, sample in case.samples.items()}
        deltas = case.deltas
        values = [
            (deltas if kind == "d" else scores).get(alias, none).get(grader)
            for kind, grader, alias in self._columns
        ]  # the hot loop at 100,000 cases: one comprehension, no calls per value
        flags = int(f.regressed) | (2 if f.error else 0)
        cut = INDEX_PROMPT_CHARS
        prompt = " ".join(case.prompt[: cut * 2].split())[:cut]
        self._rows.append(_compact([case.id, prompt, flags, *values]))

    def json(self) -> str:
        return "[" + ",".join(self._rows) + "]"


def _compact(row: Sequence[object]) -> str:
    """One row's JSON, escaped for the script element (row by row: the whole index is
    joined once, never copied three times over)."""
    text = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
