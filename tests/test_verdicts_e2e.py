"""Verdicts through a whole run: decided once, stored in report.json, and read the same
by the terminal, Markdown and HTML; 1-point drops count as regressions; a version 1
report still reads.

The issue's scenario: 20 cases on the 0–4 scale, 17 fall from 2 to 1 (pass rate
100% → 15%). The old strict "> 1.0" tolerance said "regressed 0".
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import Project, case_score_rules, item_outcomes, prompt_rows, rubric_text
from deltajudge.reporting.compare import compare_reports, load_report
from deltajudge.reporting.html import render_html
from deltajudge.reporting.markdown import render_markdown

PROMPTS20 = {f"case-{i:02d}": f"question {i:02d}" for i in range(20)}
DROPS = {"base": [2] * 20, "cand": [1] * 17 + [2] * 3}

GATES = """\
  - {test: not_worse, grader: quality}
  - {test: better, grader: quality}
  - {test: noninferior, grader: quality, margin: 0.2}
  - {metric: regressions, grader: quality, max: 0}
"""


def _run(project: Project, scores: dict[str, list[int]], gates: str = GATES) -> Any:
    project.server.set_rules(case_score_rules(PROMPTS20, **scores))
    project.write(rubric_text(gates=gates), prompt_rows(PROMPTS20))
    return project.run("--dj-no-cache")


def test_one_point_drops_count_and_every_renderer_agrees(project: Project) -> None:
    result = _run(project, DROPS)

    rubric = project.rubric_report()
    (comparison,) = rubric["comparisons"]
    assert len(comparison["regressions"]) == 17
    assert comparison["regression_rule"] == (
        "a drop of at least 1 scale step or a fall from pass to fail"
    )
    assert comparison["verdict"]["outcome"] == "worse"
    assert comparison["p_worse"] < 0.025 < comparison["p_better"]
    assert comparison["zero_method"] == "wilcox" and comparison["wilcoxon_method"] == "exact"
    gates = {g["name"]: g for g in rubric["gates"]}
    assert gates["not_worse(quality, cand)"]["passed"] is False
    assert gates["better(quality, cand)"]["passed"] is False
    assert gates["noninferior(quality, cand) margin 0.2"]["passed"] is False
    assert gates["regressions(quality, cand) <= 0"]["passed"] is False
    assert gates["regressions(quality, cand) <= 0"]["value"] == 17

    terminal = result.stdout.str()
    assert re.search(r"cand vs base\s+quality\s+20\s+-0\.85.*\s17\s+worse", terminal)
    assert "regressed = a drop of at least 1 scale step or a fall from pass to fail" in terminal
    report = load_report(project.path / "reports" / "latest" / "report.json")
    markdown = render_markdown(report)
    assert re.search(r"\|\s*0/3/17\s*\|\s*17\s*\|\s*worse\s*\|", markdown)
    assert "**Largest regressions (5 of 17)**" in markdown
    html = render_html(report)
    assert "regressions only (17)" in html
    assert re.search(r'data-testid="regressed"[^>]*>17<', html)
    assert 'data-verdict="worse"' in html


def test_the_case_verdict_is_stored_per_case(project: Project) -> None:
    extra = "case_check: {min_score: 2}\n"
    project.server.set_rules(case_score_rules(PROMPTS20, **DROPS))
    project.write(rubric_text(extra=extra), prompt_rows(PROMPTS20))
    result = project.run("--dj-no-cache")

    outcomes = item_outcomes(result)
    cases = {c["id"]: c for c in project.rubric_report()["cases"]}
    for case_id, case in cases.items():
        verdict = case["verdict"]
        assert outcomes[case_id] == ("passed" if verdict["passed"] else "failed")
    assert cases["case-00"]["verdict"] == {
        "passed": False,
        "problems": ["cand scored 1 on quality, below min_score 2"],
    }
    assert cases["case-19"]["verdict"] == {"passed": True, "problems": []}


def test_an_identical_candidate_is_not_better_but_is_noninferior(project: Project) -> None:
    same = [1, 2, 3, 2, 1] * 4
    result = _run(project, {"base": same, "cand": same})

    outcomes = item_outcomes(result)
    assert outcomes["better(quality, cand)"] == "failed"
    assert outcomes["not_worse(quality, cand)"] == "passed"
    assert outcomes["noninferior(quality, cand) margin 0.2"] == "passed"
    (comparison,) = project.rubric_report()["comparisons"]
    assert comparison["verdict"]["outcome"] == "insufficient evidence"
    assert "insufficient evidence" in result.stdout.str()


def _as_version_1(data: dict[str, Any]) -> dict[str, Any]:
    """What a deltajudge 0.1 report.json looked like: no verdicts, no one-sided p."""
    data["schema_version"] = 1
    for rubric in data["rubrics"]:
        rubric.pop("correction", None)
        for c in rubric["comparisons"]:
            for key in ("p_better", "p_worse", "wilcoxon_method", "zero_method", "power"):
                c.pop(key)
            for key in ("length_adjusted_ci_low", "length_adjusted_ci_high"):
                c.pop(key)
            c.pop("verdict")
            c.pop("regression_rule")
        for case in rubric["cases"]:
            case.pop("verdict")
        for gate in rubric["gates"]:
            for key in ("above", "below", "margin"):
                gate.pop(key)
    return data


def test_a_version_1_report_still_reads_renders_and_diffs(project: Project) -> None:
    _run(project, DROPS)
    path = project.path / "reports" / "latest" / "report.json"
    old = project.path / "old.json"
    old.write_text(json.dumps(_as_version_1(json.loads(path.read_text()))), encoding="utf-8")

    report = load_report(old)
    assert report.schema_version == 1
    assert "no verdict recorded" in render_markdown(report)
    assert "no verdict recorded" in render_html(report)
    assert compare_reports(report, load_report(path)).lines() == []


@pytest.mark.parametrize("version", [1, 2])
def test_the_baseline_gate_reads_both_versions(project: Project, version: int) -> None:
    _run(project, DROPS)
    path = project.path / "reports" / "latest" / "report.json"
    data = json.loads(path.read_text())
    if version == 1:
        data = _as_version_1(data)
    (project.path / "accepted").mkdir()
    (project.path / "accepted" / "baseline.json").write_text(json.dumps(data), encoding="utf-8")

    result = project.run("--dj-no-cache", "--dj-baseline", "accepted/baseline.json")

    assert item_outcomes(result)["baseline"] == "passed"
