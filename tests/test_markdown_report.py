"""``summary.md``: the overview as GitHub Markdown, and the Actions step summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltajudge.reporting.markdown import (
    STEP_SUMMARY_ENV,
    cell,
    headline,
    render_markdown,
    write_markdown,
)
from deltajudge.reporting.model import Report
from report_factory import INJECT_IMG, INJECT_SCRIPT, JUDGE_NOTE, make_report, with_extras


@pytest.fixture(scope="module")
def report() -> Report:
    return make_report(40)


def _table_after(text: str, title: str) -> list[str]:
    """The rows (no header, no separator) of the first table after the line ``title``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return table[2:]


def test_overview_tables_and_headlines(report: Report) -> None:
    text = render_markdown(report)
    rubric = report.rubrics[0]
    assert "| model " in text and "| comparison " in text and "|---" in text
    for c in rubric.comparisons:
        assert f"- {cell(headline(c), 300)}" in text
        assert f"**{c.mean_delta:+.2f}** [{c.ci_low:+.2f}, {c.ci_high:+.2f}]" in text
        assert f"{c.wins}/{c.ties}/{c.losses}" in text
    base = rubric.models["base"].graders["tone"]
    assert f"| base      | tone        | {base.n}  | {base.mean:.2f}" in text
    assert f"> **Note:** {JUDGE_NOTE}" in text


def test_gates_are_ticked_and_crossed(report: Report) -> None:
    text = render_markdown(report)
    gates = report.rubrics[0].gates
    table = "\n".join(_table_after(text, "**Gates:"))
    assert table.count("✅") == sum(g.passed for g in gates) > 0
    assert table.count("❌") == sum(not g.passed for g in gates) > 0
    assert f"**Gates: {sum(g.passed for g in gates)} of {len(gates)} passed**" in text


def test_largest_regressions_worst_first(report: Report) -> None:
    rubric = report.rubrics[0]
    worst = sorted(r.delta for c in rubric.comparisons for r in c.regressions)[:3]
    rows = _table_after(render_markdown(report, top_regressions=3), "**Largest regressions")
    assert len(rows) == 3
    assert [float(row.split("|")[3]) for row in rows] == worst
    assert len(_table_after(render_markdown(report), "**Largest regressions")) == 5


def test_cells_escape_pipes_newlines_and_markup(report: Report) -> None:
    assert cell("a | b\nc  d") == "a \\| b c d"
    assert cell("x" * 200, 10) == "x" * 9 + "…"
    rubric = report.rubrics[0]
    worst = min((r for c in rubric.comparisons for r in c.regressions), key=lambda r: r.delta)
    hostile = [
        c.model_copy(update={"prompt": f"pipe | in\nprompt {INJECT_SCRIPT}"})
        if c.id == worst.id
        else c
        for c in rubric.cases
    ]
    text = render_markdown(
        report.model_copy(update={"rubrics": [rubric.model_copy(update={"cases": hostile})]})
    )
    assert "pipe \\| in prompt &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert INJECT_SCRIPT not in text and INJECT_IMG not in text and "<img" not in text


def test_pairwise_flips_and_judge_noise_are_stated(report: Report) -> None:
    text = render_markdown(with_extras(make_report(40, candidates=("candidate", "sft"))))
    assert "| sft vs candidate  | tone " in text
    assert "_preference: 3 of 39 candidate verdicts flipped" in text
    assert "_Judge noise on tone: sd 0.41 within an answer (20 answers × 3)" in text
    assert "| <0.001 " in text and "| p<0.001" not in text  # the p column holds bare values


def test_write_appends_to_the_github_step_summary(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv(STEP_SUMMARY_ENV, str(summary))
    path = write_markdown(report, tmp_path / "out" / "summary.md")
    text = path.read_text(encoding="utf-8")
    assert text == render_markdown(report)
    assert summary.read_text(encoding="utf-8") == "# earlier step\n" + text + "\n"


def test_write_leaves_no_step_summary_outside_actions(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STEP_SUMMARY_ENV, raising=False)
    write_markdown(report, tmp_path / "summary.md")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]


def test_the_summary_leads_with_the_verdict_models_cost_and_worst_cases(report: Report) -> None:
    text = render_markdown(report)
    rubric = report.rubrics[0]
    failed = [g for g in rubric.gates if not g.passed]
    lines = text.splitlines()
    assert lines[2] == f"### ❌ {len(failed)} of {len(rubric.gates)} gates failed"
    assert lines[4].startswith(f"- **{cell(failed[0].name)}**")
    order = [
        text.index("gates failed"),
        text.index(cell(report.models["candidate"].model)),  # model ids, not only aliases
        text.index(f"- {cell(headline(rubric.comparisons[0]), 300)}"),
        text.index("**Spent:**"),
        text.index("**Largest regressions"),
        text.index("### Rubric"),
    ]
    assert order == sorted(order)
    assert f"n = {rubric.cases_selected} of {rubric.cases_total} cases" in text
    judge = report.models["judge"].tokens
    assert f"| {judge.prompt_tokens:,} + {judge.completion_tokens:,}" in text
    worst = sorted((r.delta, r.id) for c in rubric.comparisons for r in c.regressions)[0]
    case = next(c for c in rubric.cases if c.id == worst[1])
    reason = case.samples["candidate"].reasoning["helpfulness"]
    assert reason is not None
    row = next(r for r in _table_after(text, "**Largest regressions") if cell(case.id) in r)
    assert cell(reason, 100) in row


def test_all_passing_and_no_gates_say_so(report: Report) -> None:
    rubric = report.rubrics[0]
    passing = [g.__class__(**{**g.__dict__, "passed": True}) for g in rubric.gates]
    for gates, first in ((passing, f"### ✅ All {len(passing)} gates passed"),
                         ([], "### ⚪ No gates: this run cannot fail CI")):  # fmt: skip
        changed = report.model_copy(
            update={"rubrics": [rubric.model_copy(update={"gates": gates})]}
        )
        assert render_markdown(changed).splitlines()[2] == first


def test_the_summary_links_the_html_where_the_user_publishes_it(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    assert "Full report" not in render_markdown(report)
    url = "https://ci.example.com/job 7/report (1).html"
    linked = render_markdown(report, report_url=url)
    assert (
        "**Full report:** [report.html](https://ci.example.com/job%207/report%20%281%29.html)"
        in linked
    )
    # never a link with another scheme; a name outside GitHub Actions is just named
    sneaky = render_markdown(report, report_url="javascript:alert(1)")
    assert "](javascript" not in sneaky and "**Full report:** javascript:alert(1)" in sneaky
    plain = render_markdown(report, report_url="deltajudge-report")
    assert "**Full report:** deltajudge-report\n" in plain
    # an artifact's name on GitHub Actions: the run page that lists the artifacts
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/tone")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    text = render_markdown(report, report_url="deltajudge-report")
    assert (
        "**Full report:** artifact deltajudge-report on "
        "[this run's page](https://github.com/acme/tone/actions/runs/42)"
    ) in text


def test_write_markdown_passes_the_link_on(report: Report, tmp_path: Path) -> None:
    path = write_markdown(report, tmp_path / "summary.md", report_url="https://x.example/r.html")
    assert "[report.html](https://x.example/r.html)" in path.read_text(encoding="utf-8")
