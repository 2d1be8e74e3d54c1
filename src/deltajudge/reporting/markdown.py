"""``summary.md``: the overview as Markdown, ready to paste as a pull-request comment.

It is also where the overview's *words* live (number formats, the verdict rule and the
headline sentence), so the HTML page and the Markdown summary never say different things
about the same comparison.
"""

from __future__ import annotations

import os
from pathlib import Path

from tabulate import tabulate

from deltajudge.reporting.model import CaseEntry, ComparisonEntry, Report, RubricEntry

#: The environment variable GitHub Actions sets to a file whose Markdown shows on the run page.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_EXCERPT = 80


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
    """A data string made safe for a GitHub table cell.

    ``|`` would end the cell and a newline the row; ``<``/``>``/``&`` become entities so a
    model's ``<img onerror=…>`` shows as text instead of being rendered by GitHub.
    """
    out = excerpt(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


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


def _case_index(rubric: RubricEntry) -> dict[str, CaseEntry]:
    return {c.id: c for c in rubric.cases}


def _regressions_table(rubric: RubricEntry, limit: int) -> str:
    """The largest drops across every comparison, worst first, with what each model said."""
    drops = sorted(
        ((r.delta, r.id, c) for c in rubric.comparisons for r in c.regressions),
        key=lambda item: item[0],
    )[:limit]
    cases = _case_index(rubric)
    rows: list[list[object]] = []
    for delta, case_id, c in drops:
        case = cases.get(case_id)
        base = case.samples.get(c.baseline) if case else None
        cand = case.samples.get(c.candidate) if case else None
        rows.append(
            [
                cell(case_id),
                cell(f"{c.candidate} / {c.grader}"),
                num(delta, signed=True),
                cell(case.prompt if case else "", 60),
                cell(base.output_text if base else "", 60),
                cell(cand.output_text if cand else "", 60),
            ]
        )
    return _table(
        rows, ["case", "model / grader", "Δ", "prompt", "baseline said", "candidate said"]
    )


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


def _rubric_section(rubric: RubricEntry, top_regressions: int) -> list[str]:
    selected = (
        f"{rubric.cases_selected} of {rubric.cases_total} cases"
        if rubric.cases_selected != rubric.cases_total
        else f"{rubric.cases_total} cases"
    )
    lines = [f"### Rubric `{cell(rubric.name)}` ({selected})", ""]
    lines += [f"- {cell(headline(c), 300)}" for c in rubric.comparisons]
    lines += ["", _models_table(rubric), ""]
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
    count = sum(len(c.regressions) for c in rubric.comparisons)
    if count and top_regressions > 0:
        shown = min(count, top_regressions)
        lines += [f"**Largest regressions ({shown} of {count})**", ""]
        lines += [_regressions_table(rubric, top_regressions), ""]
        lines += [f"_Regressed: {cell(regression_rule(rubric), 300)}._", ""]
    return lines


def render_markdown(report: Report, *, top_regressions: int = 5) -> str:
    """The whole summary as one Markdown string (GitHub-flavoured tables)."""
    lines = ["## deltajudge report", ""]
    lines += [f"> **Note:** {cell(note, 500)}" for note in report.notes]
    if report.notes:
        lines.append("")
    for rubric in report.rubrics:
        lines += _rubric_section(rubric, top_regressions)
    commit = f", commit `{report.git_commit[:12]}`" if report.git_commit else ""
    lines.append(
        f"<sub>deltajudge {cell(report.deltajudge_version)}{commit}, {cell(report.created_at)}, "
        f"{report.duration_s:.1f} s, {report.calls} model calls ({report.cache_hits} cached)"
        f"{', offline replay' if report.offline else ''}</sub>"
    )
    return "\n".join(lines) + "\n"


def write_markdown(report: Report, path: Path) -> Path:
    """Write ``summary.md``; on GitHub Actions also append it to the job's step summary."""
    text = render_markdown(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    return path
