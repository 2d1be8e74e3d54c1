"""Multi-turn cases (MT-Bench's question.jsonl: ``{"question_id", "turns": [...]}``): each
user turn is asked after the model's answer to the one before, and judges see the whole
conversation (``turns``, ``sample.turns``; ``answers_a``/``answers_b`` for pairs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Project, item_outcomes, rubric_text
from deltajudge.cases import load_dataset
from deltajudge.errors import DatasetError
from deltajudge.testing import Reply, Rule

ROWS = [
    {"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now make it rhyme."]},
    {"question_id": 82, "category": "writing", "turns": ["Name a color."]},
]

# Like FastChat's single-v1-multi-turn: the whole conversation, the judge told which turn.
CONVERSATION = (
    "{% for q in turns %}### User:\\n{{ q }}\\n### Assistant:\\n"
    "{{ sample.turns[loop.index0] }}\\n{% endfor %}Rate the last answer."
)
MULTI_TURN = f"""\
  - name: second_turn
    type: score_model
    model: judge
    range: [1, 10]
    output: {{format: text, preset: rating_brackets}}
    input:
      - role: user
        content: "{CONVERSATION}"
"""
PAIR = """\
  - name: pair
    type: pairwise
    model: judge
    output: {format: text, preset: verdict_brackets}
    input:
      - role: user
        content: "A: {{ answers_a | join(' / ') }}\\nB: {{ answers_b | join(' / ') }}"
"""


def test_each_turn_is_asked_after_the_answer_to_the_one_before(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="judge-m", contains="Rate the last", reply=Reply(text="Rating: [[7]]")),
            Rule(model="judge-m", reply=Reply(text="[[C]]")),
        ]
    )
    project.write(rubric_text(graders=MULTI_TURN + PAIR), ROWS)

    result = project.run()

    assert item_outcomes(result) == {"81": "passed", "82": "passed"}
    generated = [r.body["messages"] for r in project.requests() if r.model == "base-m"]
    second = next(m for m in generated if len(m) == 3)
    assert second == [
        {"role": "user", "content": "Write a haiku."},
        {"role": "assistant", "content": "[base-m] Write a haiku."},
        {"role": "user", "content": "Now make it rhyme."},
    ]
    assert len(generated) == 3  # two turns, then one
    judged = [r.text for r in project.requests() if r.model == "judge-m"]
    assert any(
        "### User:\nWrite a haiku.\n### Assistant:\n[cand-m] Write a haiku.\n"
        "### User:\nNow make it rhyme.\n### Assistant:\n[cand-m] Now make it rhyme.\n" in t
        for t in judged
    )
    assert any(
        "A: [base-m] Write a haiku. / [base-m] Now make it rhyme.\n"
        "B: [cand-m] Write a haiku. / [cand-m] Now make it rhyme." in t
        for t in judged
    )
    case = next(c for c in project.rubric_report()["cases"] if c["id"] == "81")
    assert case["prompt"] == "Now make it rhyme."
    cand = case["samples"]["cand"]
    assert cand["turns"] == ["[cand-m] Write a haiku.", "[cand-m] Now make it rhyme."]
    assert cand["output_text"] == "[cand-m] Now make it rhyme."
    assert cand["scores"] == {"second_turn": 7.0, "pair": 0.0}
    single = next(c for c in project.rubric_report()["cases"] if c["id"] == "82")
    assert single["samples"]["cand"]["turns"] == []


def test_a_failed_later_turn_is_an_error_naming_the_turn(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", contains="Now make it rhyme", reply=Reply(status=400, text="no")),
            Rule(model="judge-m", reply=Reply(text="Rating: [[5]]")),
        ]
    )
    project.write(rubric_text(graders=MULTI_TURN), ROWS)

    result = project.run()

    assert item_outcomes(result) == {"81": "failed", "82": "passed"}
    case = next(c for c in project.rubric_report()["cases"] if c["id"] == "81")
    assert case["samples"]["cand"]["error"].startswith("turn 2: HTTP 400")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"turns": []}, "turns: expected a non-empty list of user turns"),
        ({"turns": ["ok", 3]}, "turns[1]: expected a non-empty string"),
        ({"turns": ["ok"], "system": 5}, "system: expected a string"),
    ],
)
def test_bad_turns_name_the_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"turns": ["fine"]}) + "\n" + json.dumps(row) + "\n")

    with pytest.raises(DatasetError) as info:
        load_dataset(path)

    assert f"q.jsonl:2: {message}" in str(info.value)


def test_a_system_turn_and_the_stable_id_cover_every_turn(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [
        {"turns": ["Hi.", "Tell me more."], "system": "Be brief."},
        {"turns": ["Hi.", "Something else."], "system": "Be brief."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    first, second = load_dataset(path)

    assert first.id != second.id  # same first turn, different second turn
    assert [m.as_dict() for m in first.conversation(("Hello!",))] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me more."},
    ]
    assert first.turns == ("Hi.", "Tell me more.")
