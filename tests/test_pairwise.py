"""Pairwise judging end to end: both orders are asked, position bias becomes ties counted
as inconsistent, and consistent preferences become wins and losses.

The judge prompt starts with the answer shown as A, so a rule can tell which model's
answer is in which position: ``contains="A: [cand"`` means the candidate was shown first.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PROMPTS, Project, item_outcomes, rubric_text
from deltajudge.testing import Reply, Rule

PAIRWISE = """\
  - name: pref
    type: pairwise
    model: judge
    input:
      - role: system
        content: Pick the friendlier answer.
      - role: user
        content: "A: {{ answer_a }}\\nB: {{ answer_b }}"
"""
WIN_RATE_GATE = "  - {name: mostly-wins, metric: win_rate, grader: pref, min: 0.5}\n"


def _verdict(verdict: str) -> Reply:
    return Reply(json={"reasoning": f"said {verdict}", "verdict": verdict})


def _when_first(first: str, verdict: str, case: str = "") -> Rule:
    """The judge answers ``verdict`` when ``first``'s answer is shown as A."""
    return Rule(judge=True, contains=f"A: [{first}-m] {case}".rstrip(), reply=_verdict(verdict))


PREFERS_CANDIDATE = [_when_first("cand", "A"), _when_first("base", "B")]
PREFERS_BASELINE = [_when_first("base", "A"), _when_first("cand", "B")]
MIXED = [
    _when_first("cand", "A", "question one"),  # case-1: a consistent win
    _when_first("base", "B", "question one"),
    _when_first("cand", "B", "question two"),  # case-2: a consistent loss
    _when_first("base", "A", "question two"),
    Rule(judge=True, reply=_verdict("A")),  # case-3: whatever is shown first
]

# rules, (wins, ties, losses), inconsistent, outcome label per case
SCENARIOS: dict[str, tuple[list[Rule], tuple[int, int, int], int, list[str]]] = {
    "always-first": ([Rule(judge=True, reply=_verdict("A"))], (0, 3, 0), 3, ["tie"] * 3),
    "always-second": ([Rule(judge=True, reply=_verdict("B"))], (0, 3, 0), 3, ["tie"] * 3),
    "always-tie": ([Rule(judge=True, reply=_verdict("tie"))], (0, 3, 0), 0, ["tie"] * 3),
    "prefers-candidate": (PREFERS_CANDIDATE, (3, 0, 0), 0, ["win"] * 3),
    "prefers-baseline": (PREFERS_BASELINE, (0, 0, 3), 0, ["loss"] * 3),
    "mixed": (MIXED, (1, 1, 1), 1, ["win", "loss", "tie"]),
}


def _comparison(project: Project) -> dict[str, Any]:
    (comparison,) = project.rubric_report()["comparisons"]
    assert (comparison["baseline"], comparison["candidate"], comparison["grader"]) == (
        "base",
        "cand",
        "pref",
    )
    return comparison


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_pairwise_outcomes_from_both_orders(project: Project, scenario: str) -> None:
    rules, (wins, ties, losses), inconsistent, labels = SCENARIOS[scenario]
    project.server.set_rules(rules)
    project.write(rubric_text(graders=PAIRWISE, gates=WIN_RATE_GATE))

    result = project.run()

    comparison = _comparison(project)
    assert (comparison["wins"], comparison["ties"], comparison["losses"]) == (wins, ties, losses)
    assert comparison["inconsistent"] == inconsistent
    assert comparison["n"] == 3 and comparison["errors"] == 0
    assert comparison["win_rate"] == pytest.approx(wins / 3)
    assert comparison["mean_delta"] == pytest.approx((wins - losses) / 3)
    rubric = project.rubric_report()
    cases = {c["id"]: c for c in rubric["cases"]}
    assert [cases[c]["samples"]["cand"]["labels"]["pref"] for c in PROMPTS] == labels
    assert [cases[c]["samples"]["cand"]["scores"]["pref"] for c in PROMPTS] == [
        {"win": 1.0, "tie": 0.0, "loss": -1.0}[label] for label in labels
    ]
    assert "pref" not in rubric["models"]["base"]["graders"]  # a preference needs two answers
    outcomes = item_outcomes(result)
    assert [outcomes[c] for c in PROMPTS] == ["passed"] * 3  # a verdict is not an error
    assert outcomes["mostly-wins"] == ("passed" if wins / 3 >= 0.5 else "failed")


def test_each_pair_is_judged_twice_with_the_answers_swapped(project: Project) -> None:
    project.server.set_rules(PREFERS_CANDIDATE)
    project.write(rubric_text(graders=PAIRWISE, gates=WIN_RATE_GATE))

    result = project.run()

    result.assert_outcomes(passed=4)
    judged = project.requests(judge=True)
    assert len(judged) == 6
    for prompt in PROMPTS.values():
        base, cand = f"[base-m] {prompt}", f"[cand-m] {prompt}"
        shown = sorted(r.body["messages"][1]["content"].split("\n\n")[0] for r in judged)
        assert f"A: {base}\nB: {cand}" in shown
        assert f"A: {cand}\nB: {base}" in shown
    for request in judged:
        assert request.body["messages"][0] == {
            "role": "system",
            "content": "Pick the friendlier answer.",
        }
        schema = request.body["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["verdict"]["enum"] == ["A", "B", "tie"]
    comparison = _comparison(project)
    assert (comparison["win_rate"], comparison["mean_delta"]) == (1.0, 1.0)
    gate = project.rubric_report()["gates"][0]
    assert (gate["name"], gate["passed"], gate["value"]) == ("mostly-wins", True, 1.0)
    case = project.rubric_report()["cases"][0]
    assert case["samples"]["cand"]["reasoning"]["pref"] == (
        "baseline first: B (said B); candidate first: A (said A)"
    )


def test_a_judge_error_on_either_order_is_an_error_on_the_case(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(judge=True, contains="A: [cand-m] question two", reply=_verdict("maybe")),
            *PREFERS_CANDIDATE,
        ]
    )
    project.write(rubric_text(graders=PAIRWISE))

    result = project.run()

    assert item_outcomes(result) == {"case-1": "passed", "case-2": "failed", "case-3": "passed"}
    comparison = _comparison(project)
    assert (comparison["n"], comparison["errors"], comparison["wins"]) == (2, 1, 2)
    case = next(c for c in project.rubric_report()["cases"] if c["id"] == "case-2")
    assert case["samples"]["cand"]["scores"] == {"pref": None}
    assert "verdict 'maybe' is not A, B or tie" in case["samples"]["cand"]["grade_errors"]["pref"]
