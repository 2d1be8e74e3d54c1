"""The HTML report's cases table: one row per case shown in full (`html_index` picks
them), and what expanding a case shows.

The rows are prepared here as plain values and the template only loops. The word diff is
the one piece of HTML made in Python: it is built from escaped words (`html.escape`) and
our own ``<ins>``/``<del>``.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

from markupsafe import Markup

from deltajudge.reporting.model import CaseEntry, GraderInfo, RubricEntry

#: Answers sharing fewer words than this with the baseline get no inline diff: it would be
#: noise, and it would double the page's size.
MIN_DIFF_SIMILARITY = 0.4
#: Longer answers (in words) are shown without a diff, to keep rendering fast.
MAX_DIFF_WORDS = 3000
PALETTE_SIZE = 6
_WORD = re.compile(r"(\S+)(\s*)")


def score_text(value: float | None) -> str:
    """``3`` for whole scores, ``0.75`` otherwise: judge scales are mostly integers."""
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def signed_text(value: float | None) -> str:
    if value is None:
        return "—"
    return "0" if value == 0 else f"{value:+.2f}".replace(".00", "")


def word_diff(old: str, new: str) -> Markup | None:
    """``new`` with words added since ``old`` in ``<ins>`` and removed ones in ``<del>``.

    Words are compared without their whitespace and shown with ``new``'s own spacing and
    line breaks. None when the answers share too little for a diff to help
    (`MIN_DIFF_SIMILARITY`) or are too long (`MAX_DIFF_WORDS`).
    """
    a, b = _WORD.findall(old), _WORD.findall(new)
    if not a or not b or max(len(a), len(b)) > MAX_DIFF_WORDS:
        return None
    matcher = difflib.SequenceMatcher(None, [w for w, _ in a], [w for w, _ in b], autojunk=False)
    if matcher.ratio() < MIN_DIFF_SIMILARITY:
        return None
    # stdlib escaping on plain str: the diff is the hot loop, and `Markup` wraps it once
    out: list[str] = [html.escape(new[: len(new) - len(new.lstrip())])]

    def marked(tag: str, tokens: list[tuple[str, str]], tail: str | None = None) -> None:
        if out[-1] and not out[-1][-1].isspace():
            out.append(" ")  # a change right after a word or another change
        text = "".join(w + s for w, s in tokens)
        body = text.rstrip()
        rest = text[len(body) :] if tail is None else tail
        out.append(f"<{tag}>{html.escape(body)}</{tag}>{html.escape(rest)}")

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(w + s for w, s in b[j1:j2])))
        if op in ("delete", "replace"):
            # removed words bring no line breaks of their own: the candidate's layout rules
            marked("del", a[i1:i2], " " if op == "delete" else "")
        if op in ("insert", "replace"):
            marked("ins", b[j1:j2])
    return Markup("".join(out))


@dataclass(frozen=True)
class GradeView:
    grader: str
    score: str
    passed: bool | None
    label: str | None
    reasoning: str | None
    error: str | None


@dataclass(frozen=True)
class Pane:
    """One model's answer to one case, as the expanded case shows it."""

    alias: str
    css: str
    text: str
    diff: Markup | None
    error: str | None
    grades: list[GradeView]
    tokens: str


@dataclass(frozen=True)
class CaseRow:
    case: CaseEntry
    cells: list[tuple[str, str]]  # (text, css class) per score or delta column
    has_error: bool
    panes: list[Pane]


def model_classes(rubric: RubricEntry) -> dict[str, str]:
    """A colour class per model, the baseline first: same colour on every chart and pane."""
    aliases = [rubric.baseline, *rubric.candidates]
    aliases += [a for a in rubric.models if a not in aliases]
    return {a: f"m{i % PALETTE_SIZE}" for i, a in enumerate(aliases)}


def _pane(case: CaseEntry, alias: str, css: str, baseline: str) -> Pane:
    sample = case.samples[alias]
    base = case.samples.get(baseline)
    diff = None
    if alias != baseline and base is not None and sample.output_text and base.output_text:
        diff = word_diff(base.output_text, sample.output_text)
    graders = list(sample.scores) + [g for g in sample.grade_errors if g not in sample.scores]
    grades = [
        GradeView(
            grader=g,
            score=score_text(sample.scores.get(g)),
            passed=sample.passed.get(g),
            label=sample.labels.get(g),
            reasoning=sample.reasoning.get(g),
            error=sample.grade_errors.get(g),
        )
        for g in graders
    ]
    tokens = f"{sample.prompt_tokens} prompt + {sample.completion_tokens} completion tokens"
    if sample.cached:
        tokens += " (cached)"
    return Pane(alias, css, sample.output_text, diff, sample.error, grades, tokens)


def _is_pairwise(grader: GraderInfo) -> bool:
    """A pairwise grade is the candidate's preference over the baseline (+1/0/−1): the
    baseline has no score of its own and the score already is the delta."""
    return grader.type == "pairwise"


def case_columns(rubric: RubricEntry) -> list[tuple[str, str]]:
    """(grader, heading) for every score and delta column of the cases table."""
    aliases = list(model_classes(rubric))
    cols = []
    for g in rubric.graders:
        if _is_pairwise(g):
            cols += [(g.name, f"{c} vs {rubric.baseline}") for c in rubric.candidates]
            continue
        cols += [(g.name, a) for a in aliases]
        cols += [(g.name, f"Δ {c}") for c in rubric.candidates]
    return cols


def _cells(rubric: RubricEntry, case: CaseEntry, aliases: list[str]) -> list[tuple[str, str]]:
    cells: list[tuple[str, str]] = []

    def signed(d: float | None) -> None:
        cells.append((signed_text(d), "" if not d else "up" if d > 0 else "down"))

    for g in rubric.graders:
        if _is_pairwise(g):
            for c in rubric.candidates:
                sample = case.samples.get(c)
                signed(sample.scores.get(g.name) if sample else None)
            continue
        for a in aliases:
            sample = case.samples.get(a)
            cells.append((score_text(sample.scores.get(g.name) if sample else None), ""))
        for c in rubric.candidates:
            signed(case.deltas.get(c, {}).get(g.name))
    return cells


def has_error(case: CaseEntry) -> bool:
    return bool(case.errors) or any(s.error or s.grade_errors for s in case.samples.values())


def case_rows(rubric: RubricEntry, cases: list[CaseEntry]) -> Iterator[CaseRow]:
    """``cases`` (the ones `deltajudge.reporting.html_index` chose to show in full), each
    with its cells and expanded panes.

    A generator: the page is written as it renders, so a big report never holds every
    row's HTML (answers, diffs) in memory at once."""
    classes = model_classes(rubric)
    aliases = list(classes)
    for case in cases:
        yield CaseRow(
            case=case,
            cells=_cells(rubric, case, aliases),
            has_error=has_error(case),
            panes=[
                _pane(case, a, classes[a], rubric.baseline) for a in aliases if a in case.samples
            ],
        )
