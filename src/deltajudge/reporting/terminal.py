"""The terminal summary: what a developer reads at the end of a pytest run."""

from __future__ import annotations

from tabulate import tabulate

from deltajudge.redaction import scrub
from deltajudge.reporting.lead import total_cost
from deltajudge.reporting.markdown import ci_text, num, pct, power_note, regression_rule, verdict
from deltajudge.reporting.model import ComparisonEntry, Report, RubricEntry

#: Answers this much longer (or shorter) get a line: length often moves judge scores.
LONGER_RATIO = 1.3


def _models_table(rubric: RubricEntry) -> str:
    rows = []
    for alias, figures in rubric.models.items():
        for grader, f in figures.graders.items():
            rows.append([alias, grader, f.n, num(f.mean), pct(f.pass_rate), f.errors or ""])
    return tabulate(
        rows, headers=["model", "grader", "n", "mean", "pass rate", "errors"], disable_numparse=True
    )


def _deltas_table(rubric: RubricEntry) -> str:
    rows = []
    for c in rubric.comparisons:
        p = "—" if c.p_value is None else f"{c.p_value:.3g}"
        rows.append(
            [
                f"{c.candidate} vs {c.baseline}",
                c.grader,
                c.n,
                num(c.mean_delta, signed=True),
                ci_text(c.ci_low, c.ci_high),
                p,
                f"{c.wins}/{c.ties}/{c.losses}",
                len(c.regressions),
                verdict(c),
            ]
        )
    headers = ["comparison", "grader", "n", "Δ mean", "95% CI", "p (2-sided)", "W/T/L"]
    return tabulate(rows, headers=[*headers, "regressed", "verdict"], disable_numparse=True)


def _longer(c: ComparisonEntry) -> float | None:
    """The candidate's length ratio, when it is large enough to explain a tone delta."""
    if not c.baseline_mean_length or c.candidate_mean_length is None:
        return None
    ratio = c.candidate_mean_length / c.baseline_mean_length
    return ratio if ratio >= LONGER_RATIO or ratio <= 1 / LONGER_RATIO else None


def _noise_line(rubric: RubricEntry) -> str:
    noise = rubric.noise
    assert noise is not None
    mdd = num(noise.min_detectable_delta)
    return (
        f"  judge noise on {noise.grader}: sd {num(noise.within_sd)} within an answer "
        f"({noise.answers} answers x {noise.repeats}); smallest delta n={rubric.cases_selected} "
        f"cases can detect: {mdd}"
    )


def spend_lines(report: Report) -> list[str]:
    """Tokens and money per alias: what this run paid for (cached calls are free)."""
    lines = []
    for alias, info in report.models.items():
        t = info.tokens
        if not (t.calls or t.cached_calls):
            continue
        cost = "price unknown" if t.cost_usd is None else f"${t.cost_usd:.4f}"
        lines.append(
            f"  {alias} ({info.model}): {t.prompt_tokens:,} prompt + {t.completion_tokens:,} "
            f"completion tokens in {t.calls} calls ({t.cached_calls} cached), {cost}"
        )
    if lines:
        lines.append(f"  spent: {total_cost(report)}")
    return lines


def verdict_line(report: Report) -> str:
    """The run's verdict, last above the report paths: the line a developer's eye lands on."""
    from deltajudge.reporting.lead import gate_verdict

    gates = gate_verdict(report)
    failed = ", ".join(g.name for _, g in gates.failed)
    return f"verdict: {gates.text}" + (f": {failed}" if failed else "")


def summary_lines(report: Report, paths: list[str]) -> list[str]:
    lines: list[str] = []
    for rubric in report.rubrics:
        selected = (
            f"{rubric.cases_selected} of {rubric.cases_total} cases"
            if rubric.cases_selected != rubric.cases_total
            else f"{rubric.cases_total} cases"
        )
        lines += ["", f"rubric {rubric.name} ({selected})", _models_table(rubric)]
        if rubric.comparisons:
            lines += ["", _deltas_table(rubric)]
            if any(c.regressions for c in rubric.comparisons):
                lines.append(f"  regressed = {regression_rule(rubric)}")
            if rubric.correction:
                lines.append(f"  verdicts {rubric.correction.capitalize()}-corrected")
        for c in rubric.comparisons:
            note = power_note(c)
            if note:
                lines.append(f"  {note}")
            if c.inconsistent:
                lines.append(
                    f"  {c.grader}: {c.inconsistent} of {c.n} {c.candidate} verdicts flipped when "
                    "the answers swapped places (counted as ties)"
                )
            ratio = _longer(c)
            if ratio and c.length_adjusted_delta is not None:
                lines.append(
                    f"  {c.grader}: {c.candidate}'s answers are {ratio:.1f}x as long as "
                    f"{c.baseline}'s; at equal length the delta would be "
                    f"{num(c.length_adjusted_delta, signed=True)} "
                    f"{ci_text(c.length_adjusted_ci_low, c.length_adjusted_ci_high)} (n={c.n})"
                )
        if rubric.noise is not None:
            lines.append(_noise_line(rubric))
        if rubric.checkpoints is not None:
            sweep = rubric.checkpoints
            lines.append(f"  best checkpoint: {sweep.best or 'none'} ({sweep.reason})")
        for gate in rubric.gates:
            mark = "PASS" if gate.passed else "FAIL"
            lines.append(f"  gate {mark}: {gate.name} ({gate.reason})")
    lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    lines.append(
        f"{report.calls} model calls, {report.cache_hits} from cache, {report.duration_s:.1f} s"
    )
    lines += spend_lines(report)
    lines.append(verdict_line(report))
    lines += [f"report: {p}" for p in paths]
    return [scrub(line) for line in lines]
