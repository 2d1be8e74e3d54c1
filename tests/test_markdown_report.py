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
