"""Baselines, the snapshot way: ``--dj-update-baseline`` accepts a run, later runs get a
``baseline`` gate item that fails when a mean fell by more than the tolerance and says
what changed case by case.

Runs use ``--dj-no-cache`` so a re-scripted judge is really asked again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import norm

from conftest import (
    PROMPTS,
    Project,
    case_score_rules,
    item_outcomes,
    item_reports,
    rubric_text,
)
from deltajudge.testing import Reply, Rule

ACCEPTED = {"base": [1, 1, 1], "cand": [3, 3, 3]}
#: cand loses 3 points on case-1: its mean falls from 3 to 2.
MUCH_LOWER = {"base": [1, 1, 1], "cand": [0, 3, 3]}
#: cand loses 1 point on case-1: its mean falls by 1/3.
SLIGHTLY_LOWER = {"base": [1, 1, 1], "cand": [2, 3, 3]}

BASELINE = ("--dj-baseline", "accepted/baseline.json", "--dj-no-cache")


def _accept(project: Project) -> pytest.RunResult:
    project.server.set_rules(case_score_rules(PROMPTS, **ACCEPTED))
    project.write()
    return project.run(*BASELINE, "--dj-update-baseline")


def _rerun(project: Project, scores: dict[str, list[float]], *args: str) -> pytest.RunResult:
    project.server.set_rules(case_score_rules(PROMPTS, **scores))
    return project.run(*BASELINE, *args)


def _baseline_file(project: Project) -> Path:
    return project.path / "accepted" / "baseline.json"


def _baseline_gate(project: Project) -> dict[str, Any]:
    gates = {g["name"]: g for g in project.rubric_report()["gates"]}
    gate: dict[str, Any] = gates["baseline"]
    return gate


def test_update_baseline_writes_the_report_and_passes(project: Project) -> None:
    result = _accept(project)

    assert item_outcomes(result) == {**dict.fromkeys(PROMPTS, "passed"), "baseline": "passed"}
    accepted = json.loads(_baseline_file(project).read_text(encoding="utf-8"))
    assert accepted == project.report()
    assert accepted["schema_version"] == 2
    (rubric,) = accepted["rubrics"]
    assert rubric["models"]["cand"]["graders"]["quality"]["mean"] == 3.0
    gate = _baseline_gate(project)
    assert gate["passed"] is True
    assert gate["reason"] == "baseline updated: this run is now the accepted one"


def test_a_lower_run_fails_the_baseline_gate_and_lists_what_changed(project: Project) -> None:
    _accept(project)
    accepted = _baseline_file(project).read_text(encoding="utf-8")
    rules = case_score_rules(PROMPTS, **MUCH_LOWER)
    reworded = Reply(text="[cand-m] question two, reworded")
    project.server.set_rules(
        [Rule(model="cand-m", contains="question two", reply=reworded), *rules]
    )

    result = project.run(*BASELINE)

    outcomes = item_outcomes(result)
    assert outcomes == {**dict.fromkeys(PROMPTS, "passed"), "baseline": "failed"}
    failure = item_reports(result)["baseline"].longreprtext
    assert failure.splitlines() == [
        "gate failed: baseline",
        "1 aggregate(s) fell by more than 0.1",
        "worst cases (1 case fell):",
        "  case-1 (cand/quality 3 -> 0): question one",
        "rubric demo:",
        "  mean cand/quality: 3.000 -> 2.000 (-1.000)  FELL",
        "  scores changed (1): case-1 / cand / quality: 3.0 -> 0.0",
        "  outputs changed (1): case-2 / cand",
    ]
    gate = _baseline_gate(project)
    assert (gate["passed"], gate["metric"]) == (False, "baseline")
    assert _baseline_file(project).read_text(encoding="utf-8") == accepted  # not overwritten
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_unchanged_run_passes_the_baseline_gate(project: Project) -> None:
    _accept(project)

    result = _rerun(project, ACCEPTED)

    assert item_outcomes(result)["baseline"] == "passed"
    assert _baseline_gate(project)["reason"] == "no aggregate fell by more than 0.1\nrubric demo:"


#: rubric's baseline_tolerance, the run's (--dj-set), and whether a fall of 1/3 passes.
TOLERANCES = [
    (None, None, False),  # the default, 0.1
    (None, "0.5", True),  # the run's setting
    ("0.5", None, True),  # the rubric's own
    ("0.2", "0.5", False),  # the rubric's own wins over the run's
]


def test_the_tolerance_decides_how_far_a_mean_may_fall(project: Project) -> None:
    _accept(project)  # one accepted run; each check below is a new run gated on it

    for rubric_tolerance, run_tolerance, passes in TOLERANCES:
        extra = f"baseline_tolerance: {rubric_tolerance}\n" if rubric_tolerance else ""
        project.write_rubric(rubric_text(extra=extra))
        args = ("--dj-set", f"baseline_tolerance={run_tolerance}") if run_tolerance else ()

        result = _rerun(project, SLIGHTLY_LOWER, *args)

        setup = f"rubric {rubric_tolerance}, run {run_tolerance}"
        expected = "passed" if passes else "failed"
        assert item_outcomes(result)["baseline"] == expected, setup
        reason = _baseline_gate(project)["reason"]
        tolerance = rubric_tolerance or run_tolerance or "0.1"
        head = "no aggregate fell" if passes else "1 aggregate(s) fell"
        assert reason.startswith(f"{head} by more than {tolerance}\n"), setup
        flag = "" if passes else "  FELL"
        assert f"  mean cand/quality: 3.000 -> 2.667 (-0.333){flag}\n" in reason + "\n", setup
        assert "scores changed (1): case-1 / cand / quality: 3.0 -> 2.0" in reason, setup


def _repeated_scores(first: dict[str, list[int]]) -> list[Rule]:
    """Each answer scores its ``first`` score twice, then one more: (s, s, s + 1), so
    every answer's judgments have variance 1/3."""
    return [
        Rule(
            judge=True,
            contains=f"[{alias}-m] {prompt}",
            reply=Reply(json={"reasoning": "r", "score": s}, times=1),
        )
        for alias, values in first.items()
        for prompt, score in zip(PROMPTS.values(), values, strict=True)
        for s in (score, score, score + 1)
    ]


def test_auto_tolerance_is_the_minimum_detectable_delta(project: Project) -> None:
    noise = "noise_check: {cases: 3, repeats: 3}\nbaseline_tolerance: auto\n"
    project.server.set_rules(_repeated_scores(ACCEPTED))
    project.write(rubric_text(extra=noise))
    project.run(*BASELINE, "--dj-update-baseline")
    project.server.set_rules(_repeated_scores(SLIGHTLY_LOWER))

    result = project.run(*BASELINE)

    # within sd = sqrt(1/3) over 3 cases: (z.975 + z.8) * sqrt(2) * sd / sqrt(3) ≈ 1.32,
    # so a mean that fell by 1/3 is within it (the default 0.1 would fail it).
    mdd = (norm.ppf(0.975) + norm.ppf(0.8)) * 2**0.5 * (1 / 3) ** 0.5 / 3**0.5
    assert project.rubric_report()["noise"]["min_detectable_delta"] == pytest.approx(mdd)
    assert item_outcomes(result)["baseline"] == "passed"
    reason = _baseline_gate(project)["reason"]
    assert reason.startswith(f"no aggregate fell by more than {mdd:g}\n")
    assert "mean cand/quality: 3.000 -> 2.667 (-0.333)" in reason


def test_the_baseline_path_can_come_from_the_config_file(project: Project) -> None:
    project.server.set_rules(case_score_rules(PROMPTS, **ACCEPTED))
    project.write(config_extra='baseline = "accepted/baseline.json"')

    result = project.run("--dj-update-baseline")

    assert item_outcomes(result)["baseline"] == "passed"
    assert json.loads(_baseline_file(project).read_text(encoding="utf-8")) == project.report()


MINIMAL_REPORT = {
    "deltajudge_version": "0.0.0",
    "created_at": "2025-01-01T00:00:00+00:00",
    "duration_s": 1.0,
    "models": {},
    "rubrics": [],
}

NOT_A_BASELINE: dict[str, tuple[str | None, list[str]]] = {
    "missing": (
        None,
        ["baseline report not found", "Hint: accept a run first:", "--dj-update-baseline"],
    ),
    "empty-object": ("{}", ["not a deltajudge report.json (", "schema problems)"]),
    "not-json": ("this is not json", ["not a deltajudge report.json ("]),
    "future-schema": (
        json.dumps({**MINIMAL_REPORT, "schema_version": 99}),
        [
            "baseline has schema_version 99; this deltajudge writes 2 and reads 1, 2",
            "Hint: re-accept the baseline: deltajudge run --update-baseline "
            "(plain pytest: --dj-update-baseline)",
        ],
    ),
    "other-rubrics": (
        json.dumps({**MINIMAL_REPORT, "schema_version": 1}),
        ["the baseline report has no rubric named 'demo'"],
    ),
}


@pytest.mark.parametrize("kind", list(NOT_A_BASELINE))
def test_a_baseline_that_is_not_a_usable_report_fails_the_gate(project: Project, kind: str) -> None:
    content, expected = NOT_A_BASELINE[kind]
    if content is not None:
        _baseline_file(project).parent.mkdir()
        _baseline_file(project).write_text(content, encoding="utf-8")
    project.server.set_rules(case_score_rules(PROMPTS, **ACCEPTED))
    project.write()

    result = project.run(*BASELINE)

    assert item_outcomes(result) == {**dict.fromkeys(PROMPTS, "passed"), "baseline": "failed"}
    failure = item_reports(result)["baseline"].longreprtext
    assert failure.startswith("gate failed: baseline\n")
    for text in expected:
        assert text in failure
    if kind != "other-rubrics":
        assert str(_baseline_file(project)) in failure  # names the file it could not use
    assert "Traceback" not in failure
    assert project.report()["rubrics"][0]["gates"][-1]["passed"] is False


def test_without_a_baseline_option_there_is_no_baseline_item(project: Project) -> None:
    project.server.set_rules(case_score_rules(PROMPTS, **ACCEPTED))
    project.write()

    result = project.run("--dj-no-cache")

    assert "baseline" not in item_outcomes(result)
    assert [g["name"] for g in project.rubric_report()["gates"]] == []
