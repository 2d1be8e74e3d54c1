"""The ``judge_agreement`` gate: a rubric's judge must agree with labelled pairs, judged in
the same run (same models, settings and cache), before the rubric's other gates count."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import (
    Project,
    item_outcomes,
    judge_json,
    preference_pair,
    rubric_text,
    scores_by_marker,
)
from deltajudge.testing import Rule

AGREEMENT = "judge_agreement(quality, judge) >= 0.7"
GATES = (
    "  - {metric: judge_agreement, grader: quality, labels: ../data/pairs.jsonl, min: 0.7}\n"
    "  - {test: not_worse, grader: quality}\n"
)


def _project(project: Project, judge: list[Rule]) -> None:
    """20 pairs, half with the shorter answer preferred; cases base 2, cand 3."""
    project.server.set_rules([*judge, *scores_by_marker({"[base-m]": 2, "[cand-m]": 3})])
    project.write(rubric_text(gates=GATES))
    rows = [
        preference_pair(i, "GOOD short", "BAD but a much LONGER answer")
        if i % 2
        else preference_pair(i, "GOOD and a much LONGER answer", "BAD short")
        for i in range(20)
    ]
    project.write_rows(rows, "pairs")


def _gates(project: Project) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in project.rubric_report()["gates"]}


def test_a_judge_that_agrees_with_the_labels_passes_and_reruns_from_the_cache(
    project: Project,
) -> None:
    good = Rule(judge=True, contains="Answer: GOOD", reply=judge_json(4))
    bad = Rule(judge=True, contains="Answer: BAD", reply=judge_json(1))
    _project(project, [good, bad])

    result = project.run()

    assert item_outcomes(result)[AGREEMENT] == "passed"
    assert item_outcomes(result)["not_worse(quality, cand)"] == "passed"
    gate = _gates(project)[AGREEMENT]
    assert (gate["value"], gate["model"], gate["metric"]) == (1.0, "judge", "judge_agreement")
    assert "20 of 20 decided pairs agree (95% Wilson CI [0.84, 1.00]" in gate["reason"]
    calls = project.server.count()
    assert calls == 6 + 6 + 40  # 3 cases x 2 models, their 6 gradings, 2 answers x 20 pairs
    report = project.report()
    assert report["calls"] == calls  # the pairs' calls are counted with the cases'
    assert report["models"]["judge"]["tokens"]["calls"] == 6 + 40

    rerun = project.run("--dj-offline")

    assert project.server.count() == calls  # the pairs' judgments came from the cache
    assert item_outcomes(rerun)[AGREEMENT] == "passed"
    assert _gates(project)[AGREEMENT]["reason"] == gate["reason"]


def test_a_judge_that_fails_its_labels_makes_the_graders_other_gates_fail(
    project: Project,
) -> None:
    # a judge that only likes long answers: right on half the pairs, and never better
    # than "pick the longer answer"
    longer = Rule(judge=True, contains="LONGER", reply=judge_json(4))
    short = Rule(judge=True, contains="Answer: BAD short", reply=judge_json(1))
    short_good = Rule(judge=True, contains="Answer: GOOD short", reply=judge_json(1))
    _project(project, [longer, short, short_good])

    result = project.run()

    outcomes = item_outcomes(result)
    assert outcomes[AGREEMENT] == "failed"
    assert outcomes["not_worse(quality, cand)"] == "failed"
    gates = _gates(project)
    assert gates[AGREEMENT]["value"] == 0.5
    assert (
        "is not significantly better than picking the longer answer" in gates[AGREEMENT]["reason"]
    )
    assert gates["not_worse(quality, cand)"]["reason"].startswith(
        f"not counted: the judge failed {AGREEMENT} (no significant regression"
    )


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (None, "file not found"),
        (
            [
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            ],
            "expected preference pairs",
        ),
    ],
)
def test_a_bad_labels_file_fails_collection_at_the_gate(
    project: Project, pairs: list[dict[str, Any]] | None, expected: str
) -> None:
    project.write(rubric_text(gates=GATES))
    if pairs is not None:
        project.write_rows(pairs, "pairs")

    result = project.run()

    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    line = rubric_text(gates=GATES).splitlines().index(GATES.splitlines()[0]) + 1
    assert f"demo.yaml:{line}:" in out and "gates[0].labels: " in out and expected in out
    assert not project.server.requests


def test_a_judge_agreement_gate_needs_labels_and_takes_no_model(project: Project) -> None:
    gates = "  - {metric: judge_agreement, grader: quality, min: 0.7}\n"
    project.write(rubric_text(gates=gates))

    result = project.run()

    result.assert_outcomes(errors=1)
    assert "a judge_agreement gate needs `labels`" in result.stdout.str()
