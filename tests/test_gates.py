"""Gates end to end: each metric read off scripted scores, passing and failing at bounds
computed by hand, the names gates get, and gates that cannot be computed.

Four cases; the judge's scores per case are scripted, so every figure below is a small
hand calculation (written next to it).
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import (
    Project,
    case_score_rules,
    item_outcomes,
    item_reports,
    prompt_rows,
    rubric_text,
)

PROMPTS4 = {
    "case-1": "question one",
    "case-2": "question two",
    "case-3": "question three",
    "case-4": "question four",
}

#: base [1, 1, 2, 3], cand [3, 3, 2, 1]: deltas [2, 2, 0, -2].
#: mean_delta 0.5; 2 wins, 1 tie, 1 loss: win_rate 0.5; one drop beyond 1.0 (case-4):
#: 1 regression. Pass threshold 2: cand passes 3 of 4 (0.75), base 2 of 4 (0.5).
#: Means: cand 9/4 = 2.25, base 7/4 = 1.75.
MIXED = {"base": [1, 1, 2, 3], "cand": [3, 3, 2, 1]}
#: Every delta is exactly 1: the bootstrap interval is the point [1, 1].
UNIFORM = {"base": [0, 1, 2, 3], "cand": [1, 2, 3, 4]}
#: Deltas [1, 2, 3, 4]: no zeros, no tied ranks, so Wilcoxon is exact:
#: W- = 0, p = 2 * (1 / 2**4) = 0.125.
DISTINCT = {"base": [0, 0, 0, 0], "cand": [1, 2, 3, 4]}
#: 7 is outside the range [0, 4]: two of cand's four answers cannot be scored.
ERRORS = {"base": [1, 1, 2, 3], "cand": [3, 7, 2, 7]}


def _gate(name: str, metric: str, bounds: dict[str, Any]) -> str:
    keys = "".join(f"    {key}: {value}\n" for key, value in bounds.items())
    return f"  - name: {name}\n    metric: {metric}\n    grader: quality\n{keys}"


def _write(project: Project, scores: dict[str, list[float]], gates: str) -> None:
    project.server.set_rules(case_score_rules(PROMPTS4, **scores))
    project.write(rubric_text(gates=gates), prompt_rows(PROMPTS4))


# One row per metric: the passing gate and its value, the failing gate, its value and reason.
Row = tuple[str, dict[str, Any], float, dict[str, Any], float, str]
SCENARIOS: dict[str, tuple[dict[str, list[float]], list[Row]]] = {
    "mixed": (
        MIXED,
        [
            ("mean_delta", {"min": 0.5}, 0.5, {"min": 0.6}, 0.5, "below the minimum 0.6"),
            ("win_rate", {"min": 0.5}, 0.5, {"min": 0.75}, 0.5, "below the minimum 0.75"),
            (
                "pass_rate",
                {"min": 0.75},
                0.75,
                {"model": "base", "min": 0.6},
                0.5,
                "below the minimum 0.6",
            ),
            ("mean", {"min": 2.25}, 2.25, {"model": "base", "min": 2}, 1.75, "below the minimum 2"),
            ("regressions", {"max": 1}, 1.0, {"max": 0}, 1.0, "above the maximum 0"),
        ],
    ),
    "uniform": (
        UNIFORM,
        [
            ("delta_ci_low", {"min": 1}, 1.0, {"min": 1.1}, 1.0, "below the minimum 1.1"),
            ("delta_ci_high", {"max": 1}, 1.0, {"max": 0.9}, 1.0, "above the maximum 0.9"),
        ],
    ),
    "distinct": (
        DISTINCT,
        [("p_value", {"max": 0.125}, 0.125, {"max": 0.05}, 0.125, "above the maximum 0.05")],
    ),
    "errors": (
        ERRORS,
        [("errors", {"model": "base", "max": 0}, 0.0, {"max": 1}, 2.0, "above the maximum 1")],
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_metric_passes_and_fails_at_hand_computed_bounds(
    project: Project, scenario: str
) -> None:
    scores, rows = SCENARIOS[scenario]
    gates = "".join(
        _gate(f"{metric}-ok", metric, ok) + _gate(f"{metric}-bad", metric, bad)
        for metric, ok, _, bad, _, _ in rows
    )
    _write(project, scores, gates)

    result = project.run()

    outcomes, reports = item_outcomes(result), item_reports(result)
    gates_by_name = {g["name"]: g for g in project.rubric_report()["gates"]}
    for metric, ok, ok_value, bad, bad_value, why in rows:
        passing, failing = gates_by_name[f"{metric}-ok"], gates_by_name[f"{metric}-bad"]
        assert (outcomes[f"{metric}-ok"], outcomes[f"{metric}-bad"]) == ("passed", "failed")
        failure = reports[f"{metric}-bad"].longreprtext
        head = [f"gate failed: {metric}-bad", f"{metric} = {bad_value:.4g}, {why}"]
        assert failure.splitlines()[:2] == head  # then, for a delta, the worst cases
        assert (passing["passed"], failing["passed"]) == (True, False)
        assert passing["value"] == pytest.approx(ok_value, abs=1e-12), metric
        assert failing["value"] == pytest.approx(bad_value, abs=1e-12), metric
        assert (passing["metric"], failing["metric"]) == (metric, metric)
        assert passing["model"] == ok.get("model", "cand")
        assert failing["model"] == bad.get("model", "cand")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    unscored = {"case-2", "case-4"} if scenario == "errors" else set()
    assert {case for case in PROMPTS4 if outcomes[case] == "failed"} == unscored


def test_the_scripted_figures_behind_the_gates(project: Project) -> None:
    """The comparison the paired gates read, checked field by field on MIXED."""
    _write(project, MIXED, "")

    project.run().assert_outcomes(passed=4)

    rubric = project.rubric_report()
    (comparison,) = rubric["comparisons"]
    assert comparison["mean_delta"] == 0.5
    assert (comparison["wins"], comparison["ties"], comparison["losses"]) == (2, 1, 1)
    assert comparison["regressions"] == [{"id": "case-4", "delta": -2.0}]
    assert comparison["ci_low"] < 0.5 < comparison["ci_high"]
    assert comparison["ci_low"] >= -2 and comparison["ci_high"] <= 2
    cand = rubric["models"]["cand"]["graders"]["quality"]
    base = rubric["models"]["base"]["graders"]["quality"]
    assert (cand["mean"], cand["pass_rate"], base["mean"], base["pass_rate"]) == (
        2.25,
        0.75,
        1.75,
        0.5,
    )
    regressed = {c["id"]: c["regressed"] for c in rubric["cases"]}
    assert regressed == {"case-1": False, "case-2": False, "case-3": False, "case-4": True}


# -- gates that cannot be computed fail, and say why -----------------------------------------


def test_gates_fail_when_every_case_errored(project: Project) -> None:
    # No judge rule: the scripted server answers every judge request with HTTP 400.
    gates = (
        _gate("lift", "mean_delta", {"min": 0})
        + _gate("quality-mean", "mean", {"min": 0})
        + _gate("few-errors", "errors", {"max": 10})
    )
    project.write(rubric_text(gates=gates))

    result = project.run()

    outcomes = item_outcomes(result)
    assert outcomes == {
        "case-1": "failed",
        "case-2": "failed",
        "case-3": "failed",
        "lift": "failed",
        "quality-mean": "failed",
        "few-errors": "passed",  # 3 errors is a number, and within bounds
    }
    reports = item_reports(result)
    assert (
        "cannot be computed: no case has scores from both models (3 with errors)"
        in reports["lift"].longreprtext
    )
    assert (
        "cannot be computed: cand has no scored case on quality (3 errors)"
        in reports["quality-mean"].longreprtext
    )
    gates = {g["name"]: g for g in project.rubric_report()["gates"]}
    assert gates["lift"]["value"] is None and gates["lift"]["passed"] is False
    assert gates["quality-mean"]["value"] is None
    assert gates["few-errors"]["value"] == 3.0


def test_gates_without_enough_to_compute_fail_with_the_reason(project: Project) -> None:
    # Every case ties: there is no direction for Wilcoxon to test, so no p-value.
    project.server.set_rules(case_score_rules(PROMPTS4, base=[2, 2, 2, 2], cand=[2, 2, 2, 2]))
    grader = """\
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    input:
      - role: user
        content: "Question: {{ prompt }} Answer: {{ sample.output_text }}"
"""
    gates = (
        _gate("p", "p_value", {"max": 0.05})
        + _gate("passing", "pass_rate", {"min": 0.5})
        + _gate("flat", "mean_delta", {"min": 0, "max": 0})
    )
    project.write(rubric_text(graders=grader, gates=gates), prompt_rows(PROMPTS4))

    result = project.run()

    outcomes = item_outcomes(result)
    assert (outcomes["p"], outcomes["passing"], outcomes["flat"]) == ("failed", "failed", "passed")
    reports = item_reports(result)
    assert "cannot be computed: cannot compute p_value from 4 case(s)" in reports["p"].longreprtext
    assert (
        "cannot be computed: grader quality has no pass_threshold, so no pass rate"
        in reports["passing"].longreprtext
    )


# -- names ------------------------------------------------------------------------------------


def test_gate_items_are_named_after_their_rule_unless_named(project: Project) -> None:
    _write(project, MIXED, "")
    gates = """\
  - {metric: mean_delta, grader: quality, min: 0.2}
  - {metric: win_rate, grader: quality, max: 0.5}
  - {metric: mean, grader: quality, model: base, min: 1, max: 2}
  - {metric: pass_rate, grader: quality, min: 0.9}
  - {name: lift, metric: mean_delta, grader: quality, min: 0.4}
"""
    project.write_rubric(rubric_text(gates=gates))

    result = project.run("-v")

    assert item_outcomes(result) == {
        **dict.fromkeys(PROMPTS4, "passed"),
        "mean_delta(quality, cand) >= 0.2": "passed",
        "win_rate(quality, cand) <= 0.5": "passed",
        "mean(quality, base) in [1, 2]": "passed",
        "pass_rate(quality, cand) >= 0.9": "failed",
        "lift": "passed",
    }
    result.stdout.fnmatch_lines(
        ["*rubrics/demo.yaml::mean_delta?quality, cand? >= 0.2 PASSED*", "*::lift PASSED*"]
    )
    names = [g["name"] for g in project.rubric_report()["gates"]]
    assert names == [
        "mean_delta(quality, cand) >= 0.2",
        "win_rate(quality, cand) <= 0.5",
        "mean(quality, base) in [1, 2]",
        "pass_rate(quality, cand) >= 0.9",
        "lift",
    ]
