"""``summary.md``: the overview as Markdown, ready to paste as a pull-request comment.

It is also where the overview's *words* live (number formats, the verdict rule and the
headline sentence), so the HTML page and the Markdown summary never say different things
about the same comparison.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from tabulate import tabulate

from deltajudge.atomic import write_atomic
from deltajudge.reporting.lead import gate_verdict, model_rows, regressions, total_cost
from deltajudge.reporting.model import ComparisonEntry, Report, RubricEntry
from deltajudge.reporting.redacted import redacted

#: The environment variable GitHub Actions sets to a file whose Markdown shows on the run page.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_EXCERPT = 80
#: Inline Markdown syntax: escapes, code, emphasis, links and images, tables, strikethrough, math.
_ACTIVE = re.compile(r"[\\`*_\[\]!|~$]")
#: Where plain text becomes a link, a mention or a reference on GitHub (see `cell`).
_LINKISH = re.compile(r"(?<=[@#])|(?<=/)(?=/)|(?<=www)(?=\.)|(?<=\bgh)(?=-)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def p_num(p: float | None) -> str:
    """``0.003``; very small values as ``<0.001`` rather than false precision."""
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def p_text(p: float | None) -> str:
    """``p=0.003``, ``p<0.001``."""
    value = p_num(p)
    return f"p{value}" if value.startswith("<") else f"p={value}"


def ci_text(low: float | None, high: float | None, *, signed: bool = True) -> str:
    return f"[{num(low, signed=signed)}, {num(high, signed=signed)}]"


def verdict(c: ComparisonEntry) -> str:
    """The word a reader acts on: *better*, *worse* or *insufficient evidence*, as gating
    decided it (`deltajudge.gating.verdict`: the 95% CI and the exact Wilcoxon test must
    agree, with enough cases that changed). Renderers only read it; a version 1 report
    has none."""
    if c.verdict is None:
        return "no verdict recorded"
    return c.verdict.outcome


def headline(c: ComparisonEntry) -> str:
    """``cand vs base on tone (n=36): +0.45 [+0.21, +0.70], p=0.003 (two-sided) — better``."""
    subject = f"{c.candidate} vs {c.baseline} on {c.grader}"
    if c.mean_delta is None:
        return f"{subject}: no case has scores from both models ({c.errors} with errors)"
    figures = (
        f"{num(c.mean_delta, signed=True)} {ci_text(c.ci_low, c.ci_high)}, "
        f"{p_text(c.p_value)} (two-sided)"
    )
    corrected = " (Holm-corrected)" if c.verdict is not None and c.verdict.correction else ""
    return f"{subject} (n={c.n}): {figures} — {verdict(c)}{corrected}"


def gate_bounds(
    low: float | None,
    high: float | None,
    above: float | None = None,
    below: float | None = None,
    margin: float | None = None,
    metric: str = "",
) -> str:
    """What a gate requires: ``≥``/``≤`` inclusive, ``>``/``<`` strict, or the named test."""
    if metric in ("better", "not_worse"):
        return "verdict better" if metric == "better" else "verdict not worse"
    if margin is not None:
        return f"{metric}, margin {margin:g}"
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    parts = [
        f"{sign} {value:g}"
        for sign, value in (("≥", low), (">", above), ("≤", high), ("<", below))
        if value is not None
    ]
    return " and ".join(parts)


def regression_rule(rubric: RubricEntry) -> str:
    """The rule(s) the regression counts used, for the line under a regressions table."""
    rules = sorted({c.regression_rule for c in rubric.comparisons if c.regression_rule})
    return "; ".join(rules)


def power_note(c: ComparisonEntry) -> str | None:
    """For an undecided comparison: how likely these cases were to detect a delta this
    large, which says whether "insufficient evidence" means "add cases"."""
    if c.verdict is None or c.verdict.outcome != "insufficient evidence" or c.power is None:
        return None
    return (
        f"{c.candidate} on {c.grader}: insufficient evidence; with n={c.n} the power to "
        f"detect a true delta of {num(c.mean_delta, signed=True)} is {c.power:.0%}"
    )


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    """One line, at most ``limit`` characters: what fits in a table cell."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def cell(text: str, limit: int = _EXCERPT) -> str:
    """A data string made inert for GitHub: it shows as the same text and does nothing.

    Answers, prompts, judge reasons and ids reach a pull request through this, so none of
    them may render an image (a tracking beacon), a link, an HTML tag, an @mention or a
    ``#123`` reference. ``<``/``>``/``&`` become entities, every other inline-active
    character (`_ACTIVE`: emphasis, code, links, images, tables, strikethrough, math) is
    backslash-escaped, and an invisible word joiner goes where GitHub would otherwise
    make a link or a mention from plain text: after ``@`` and ``#``, inside ``//``,
    ``www.`` and ``GH-``. The text is flattened to one line (a newline would end a table row).
    """
    out = excerpt(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINKISH.sub(WORD_JOINER, _ACTIVE.sub(r"\\\g<0>", out))


def _table(rows: list[list[object]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _models_table(rubric: RubricEntry) -> str:
    rows: list[list[object]] = []
    for alias, figures in rubric.models.items():
        for grader, f in figures.graders.items():
            rows.append(
                [
                    cell(alias),
                    cell(grader),
                    f.n,
                    num(f.mean),
                    ci_text(f.ci_low, f.ci_high, signed=False),
                    pct(f.pass_rate),
                    f.errors or "",
                ]
            )
    return _table(rows, ["model", "grader", "n", "mean", "95% CI", "pass rate", "errors"])


def _comparisons_table(rubric: RubricEntry) -> str:
    rows: list[list[object]] = [
        [
            cell(f"{c.candidate} vs {c.baseline}"),
            cell(c.grader),
            c.n,
            f"**{num(c.mean_delta, signed=True)}** {ci_text(c.ci_low, c.ci_high)}",
            p_num(c.p_value),
            f"{c.wins}/{c.ties}/{c.losses}",
            len(c.regressions),
            verdict(c),
        ]
        for c in rubric.comparisons
    ]
    headers = [
        "comparison",
        "grader",
        "n",
        "Δ mean [95% CI]",
        "p (two-sided)",
        "W/T/L",
        "regressed",
        "verdict",
    ]
    return _table(rows, headers)


def _gates_table(rubric: RubricEntry) -> str:
    rows: list[list[object]] = [
        [
            "✅" if g.passed else "❌",
            cell(g.name),
            cell(g.model),
            cell(f"{g.metric}[{g.grader}]"),
            num(g.value),
            gate_bounds(g.min, g.max, g.above, g.below, g.margin, g.metric),
            cell(g.reason, 120),
        ]
        for g in rubric.gates
    ]
    return _table(rows, ["", "gate", "model", "metric", "value", "required", "reason"])


def _regressions_table(rubric: RubricEntry, limit: int) -> str:
    """The largest drops across every comparison, worst first, with what each model said
    and what the judge said about the candidate's answer."""
    rows: list[list[object]] = [
        [
            cell(x.case_id),
            cell(x.what),
            num(x.delta, signed=True),
            cell(x.prompt, 60),
            cell(x.baseline, 60),
            cell(x.candidate, 60),
            cell(x.candidate_reason or "", 100),
        ]
        for x in regressions(rubric, limit)
    ]
    headers = ["case", "model / grader", "Δ", "prompt", "baseline said", "candidate said"]
    return _table(rows, [*headers, "judge on the candidate"])


def _caveats(rubric: RubricEntry) -> list[str]:
    """What could make a delta less than it seems: swapped-order flips and judge noise."""
    out = [
        f"_{cell(c.grader)}: {c.inconsistent} of {c.n} {cell(c.candidate)} verdicts flipped when "
        "the answers swapped places (counted as ties)._"
        for c in rubric.comparisons
        if c.inconsistent
    ]
    out += [f"_{cell(note, 300)}._" for c in rubric.comparisons if (note := power_note(c))]
    noise = rubric.noise
    if noise is not None:
        out.append(
            f"_Judge noise on {cell(noise.grader)}: sd {num(noise.within_sd)} within an answer "
            f"({noise.answers} answers × {noise.repeats}); smallest detectable delta "
            f"{num(noise.min_detectable_delta)}._"
        )
    return out


def _rubric_section(rubric: RubricEntry) -> list[str]:
    selected = (
        f"{rubric.cases_selected} of {rubric.cases_total} cases"
        if rubric.cases_selected != rubric.cases_total
        else f"{rubric.cases_total} cases"
    )
    lines = [f"### Rubric {cell(rubric.name)} ({selected})", "", _models_table(rubric), ""]
    if rubric.comparisons:
        lines += [_comparisons_table(rubric), ""]
    lines += [f"{line}  " for line in _caveats(rubric)]
    if lines[-1] != "":
        lines.append("")
    if rubric.gates:
        passed = sum(g.passed for g in rubric.gates)
        lines += [
            f"**Gates: {passed} of {len(rubric.gates)} passed**",
            "",
            _gates_table(rubric),
            "",
        ]
    return lines


def _regressions_section(rubric: RubricEntry, top: int, several: bool) -> list[str]:
    count = sum(len(c.regressions) for c in rubric.comparisons)
    if not count or top <= 0:
        return []
    of = f" in {cell(rubric.name)}" if several else ""
    lines = [f"**Largest regressions{of} ({min(count, top)} of {count})**", ""]
    lines += [_regressions_table(rubric, top), ""]
    rule = regression_rule(rubric)
    return lines + ([f"_Regressed: {cell(rule, 300)}._", ""] if rule else [])


def _gate_lines(report: Report) -> list[str]:
    """The verdict first, as a heading: failed gates are named, with their reasons."""
    verdict_ = gate_verdict(report)
    mark = {"pass": "✅", "fail": "❌", "none": "⚪"}[verdict_.state]
    text = verdict_.text.removeprefix("✓ ").removeprefix("✗ ")
    lines = [f"### {mark} {text}", ""]
    lines += [
        f"- **{cell(g.name)}** ({cell(name)}, {cell(g.model)}): {cell(g.reason, 200)}"
        for name, g in verdict_.failed
    ]
    return lines + ([""] if verdict_.failed else [])


def _compared_lines(report: Report) -> list[str]:
    """Per rubric: n, the baseline and candidates by alias and model id, the headlines."""
    lines: list[str] = []
    models = report.models

    def who(alias: str) -> str:
        info = models.get(alias)
        return f"{cell(alias)} ({cell(info.model)})" if info else cell(alias)

    for rubric in report.rubrics:
        of = "" if rubric.cases_selected == rubric.cases_total else f" of {rubric.cases_total}"
        candidates = ", ".join(who(c) for c in rubric.candidates) or "none"
        lines.append(
            f"**{cell(rubric.name)}**: n = {rubric.cases_selected}{of} cases; baseline "
            f"{who(rubric.baseline)}, candidate{'s' if len(rubric.candidates) > 1 else ''} "
            f"{candidates}"
        )
        lines += ["", *(f"- {cell(headline(c), 300)}" for c in rubric.comparisons), ""]
    return lines


def _cost_lines(report: Report) -> list[str]:
    rows: list[list[object]] = [
        [cell(m.alias), cell(m.model), m.tokens, m.calls, m.cost] for m in model_rows(report, {})
    ]
    table = _table(rows, ["alias", "model id", "tokens (prompt + completion)", "calls", "cost"])
    return [table, "", f"**Spent:** {total_cost(report)}", ""]


def report_link(url: str | None) -> list[str]:
    """The line that links summary.md to the full page (``report_url``).

    An ``http(s)`` address becomes a link; anything else is taken for the name of a CI
    artifact and, on GitHub Actions, points to the run page that lists it. Never a link
    with another scheme, so a config value cannot smuggle ``javascript:`` into a PR.
    """
    if not url:
        return []
    if re.match(r"https?://", url, re.IGNORECASE):
        safe = quote(url, safe=":/?#@!$&'*+,;=%~-._")
        return [f"**Full report:** [report.html]({safe})", ""]
    run = [
        os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    ]
    if all(run):
        page = quote("/".join([run[0], run[1], "actions", "runs", run[2]]), safe=":/%-._~")
        return [f"**Full report:** artifact {cell(url)} on [this run's page]({page})", ""]
    return [f"**Full report:** {cell(url)}", ""]


def render_markdown(
    report: Report, *, top_regressions: int = 5, report_url: str | None = None
) -> str:
    """The whole summary as one Markdown string (GitHub-flavoured tables).

    It leads with what a reviewer acts on: the gates' verdict, the models compared (alias
    and model id) with n and each comparison's headline, what the run cost, the link to
    the full page, then the worst regressions with the judge's reasons; the tables follow.
    """
    lines = ["## deltajudge report", "", *_gate_lines(report), *_compared_lines(report)]
    lines += [*_cost_lines(report), *report_link(report_url)]
    lines += [f"> **Note:** {cell(note, 500)}" for note in report.notes]
    if report.notes:
        lines.append("")
    several = len(report.rubrics) > 1
    for rubric in report.rubrics:
        lines += _regressions_section(rubric, top_regressions, several)
    for rubric in report.rubrics:
        lines += _rubric_section(rubric)
    commit = f", commit `{report.git_commit[:12]}`" if report.git_commit else ""
    lines.append(
        f"<sub>deltajudge {cell(report.deltajudge_version)}{commit}, {cell(report.created_at)}, "
        f"{report.duration_s:.1f} s, {report.calls} model calls ({report.cache_hits} cached)"
        f"{', offline replay' if report.offline else ''}</sub>"
    )
    return "\n".join(lines) + "\n"


def write_markdown(report: Report, path: Path, *, report_url: str | None = None) -> Path:
    """Write ``summary.md``; on GitHub Actions also append it to the job's step summary."""
    text = render_markdown(redacted(report), report_url=report_url)
    write_atomic(path, text)
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return path
