"""Routing graders by row (``when``) and references that are lists or objects.

MT-Bench judges math and coding answers with a reference-guided judge and the rest with
the general one: two graders in one rubric, each judging only its rows and reported
apart, with no errors counted for the rows that are not theirs.
"""

from __future__ import annotations

import json

import pytest

from conftest import Project, item_outcomes, rubric_text
from deltajudge.testing import Reply, Rule

ROWS = [
    {"id": "m1", "input": "question m1", "category": "math", "reference": ["4", "four"]},
    {"id": "c1", "input": "question c1", "category": "coding", "reference": {"answer": "x=1"}},
    {"id": "w1", "input": "question w1", "category": "writing", "reference": "a poem"},
    {"id": "w2", "input": "question w2", "category": "writing", "reference": "an essay"},
]


def _grader(name: str, when: str, content: str) -> str:
    return (
        f"  - name: {name}\n    type: score_model\n    model: judge\n    range: [1, 10]\n"
        f"    when: {json.dumps(when)}\n"
        f"    output: {{format: text, preset: rating_brackets}}\n"
        f"    input:\n      - role: user\n        content: {json.dumps(content)}\n"
    )


MATH = _grader(
    "math",
    "item.category in ['math', 'coding']",
    "[math] refs={{ references | tojson }} ref={{ reference | tojson }} "
    "Q={{ prompt }} A={{ sample.output_text }}",
)
GENERAL = _grader(
    "general",
    "item.category not in ['math', 'coding']",
    "[general] Q={{ prompt }} A={{ sample.output_text }}",
)


def test_each_grader_judges_only_its_rows_and_is_reported_apart(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="judge-m", contains="[math]", reply=Reply(text="Rating: [[9]]")),
            Rule(model="judge-m", contains="[general]", reply=Reply(text="Rating: [[5]]")),
        ]
    )
    project.write(rubric_text(graders=MATH + GENERAL), ROWS)

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    judged = [r.text for r in project.requests() if r.model == "judge-m"]
    assert sum("[math]" in t for t in judged) == 4  # 2 rows x 2 models
    assert sum("[general]" in t for t in judged) == 4
    rubric = project.rubric_report()
    for alias in ("base", "cand"):
        figures = rubric["models"][alias]["graders"]
        assert (figures["math"]["n"], figures["math"]["errors"], figures["math"]["mean"]) == (
            2,
            0,
            9.0,
        )
        assert (figures["general"]["n"], figures["general"]["errors"]) == (2, 0)
    comparisons = {c["grader"]: c for c in rubric["comparisons"]}
    assert (comparisons["math"]["n"], comparisons["math"]["errors"]) == (2, 0)
    assert (comparisons["general"]["n"], comparisons["general"]["errors"]) == (2, 0)
    cases = {c["id"]: c for c in rubric["cases"]}
    assert cases["m1"]["samples"]["cand"]["scores"] == {"math": 9.0}
    assert cases["w1"]["samples"]["cand"]["scores"] == {"general": 5.0}


def test_a_list_or_object_reference_reaches_templates_intact(project: Project) -> None:
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text="Rating: [[7]]"))])
    project.write(rubric_text(graders=MATH + GENERAL), ROWS)

    project.run()

    judged = [r.text for r in project.requests() if r.model == "judge-m" and "[math]" in r.text]
    assert any('refs=["4", "four"] ref=["4", "four"] Q=question m1' in t for t in judged)
    assert any('refs=[{"answer": "x=1"}] ref={"answer": "x=1"} Q=question c1' in t for t in judged)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("item.category in [", "graders[0].when: not a jinja2 expression"),
        ("item.topic == 'math'", "graders[0].when: undefined on case m1 (line 1)"),
    ],
)
def test_a_bad_condition_fails_at_collection(project: Project, when: str, message: str) -> None:
    project.write(rubric_text(graders=_grader("math", when, "{{ prompt }}")), ROWS)

    result = project.run("--collect-only")

    out = result.stdout.str()
    assert message in out and "rubrics/demo.yaml:9:5:" in out  # the `when` key
    assert project.requests() == []


def test_a_multi_graders_parts_cannot_be_routed(project: Project) -> None:
    grader = (
        "  - name: combo\n    type: multi\n    calculate_output: exact\n    graders:\n"
        "      exact:\n        type: string_check\n        reference: x\n"
        "        operation: eq\n        when: \"item.category == 'math'\"\n"
    )
    project.write(rubric_text(graders=grader), ROWS)

    result = project.run("--collect-only")

    assert "sub-grader exact has `when`" in result.stdout.str()
