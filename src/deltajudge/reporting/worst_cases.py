"""The few cases that explain a failure, with their prompts, then how many more there are.

A failed gate or baseline that lists twenty ids sends the reader to the HTML; three
prompts with their scores usually say what went wrong on the first screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from deltajudge.reporting.model import CaseEntry, RubricEntry

#: Cases listed in a failure before the rest are only counted.
SHOWN = 3
#: Characters of a prompt shown in a one-line listing.
PROMPT_CHARS = 70


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PROMPT_CHARS else flat[: PROMPT_CHARS - 1] + "…"


def _listing(
    drops: Iterable[tuple[float, CaseEntry, str]], verb: str, total: int | None = None
) -> list[str]:
    """``verb`` follows the count: "2 cases fell", "1 case scored lower". ``total``: how
    many there are when ``drops`` holds only the worst (a caller that streams the rows)."""
    ranked = sorted(drops, key=lambda d: d[0])
    lines = [f"  {case.id} ({what}): {_excerpt(case.prompt)}" for _, case, what in ranked[:SHOWN]]
    if not lines:
        return []
    total = len(ranked) if total is None else total
    more = total - SHOWN
    tail = [f"  … and {more} more {'case' if more == 1 else 'cases'} {verb}"] if more > 0 else []
    count = f"{total} {'case' if total == 1 else 'cases'} {verb}"
    return [f"worst cases ({count}):", *lines, *tail]


def worst_deltas(rubric: RubricEntry, candidate: str, grader: str) -> list[str]:
    """The cases where ``candidate`` scored furthest below the baseline on ``grader``."""
    drops = []
    for case in rubric.cases:
        delta = case.deltas.get(candidate, {}).get(grader)
        if delta is not None and delta < 0:
            drops.append((delta, case, f"{grader} {delta:+g} vs {rubric.baseline}"))
    return _listing(drops, "scored lower")


def fall_since(previous: CaseEntry, case: CaseEntry) -> tuple[float, str] | None:
    """The largest fall of one of the case's scores since the accepted report, and it in
    words (``cand/quality 3 -> 0``); None when none fell."""
    worst: tuple[float, str] | None = None
    for alias, sample in case.samples.items():
        for grader, score in sample.scores.items():
            was = previous.samples.get(alias)
            old_score = was.scores.get(grader) if was else None
            if score is None or old_score is None or score >= old_score:
                continue
            change = (score - old_score, f"{alias}/{grader} {old_score:g} -> {score:g}")
            worst = change if worst is None or change[0] < worst[0] else worst
    return worst


def fell_listing(worst: Iterable[tuple[float, CaseEntry, str]], total: int) -> list[str]:
    """The cases whose score fell the most since the accepted report (`fall_since`): from
    the worst falls only (at least `SHOWN`, in case order) and the number of cases that
    fell, since the baseline gate streams both reports' rows."""
    return _listing(worst, "fell", total)
