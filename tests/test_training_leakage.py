"""``training_file:`` / ``--dj-training-file``: evaluation prompts found in the training
data are listed at collection, a warning by default and an error with ``leakage: fail``."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Project, item_outcomes, rubric_text, scores_by_marker


def _sft(path: Path, prompts: list[str]) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "a"}]}
        for p in prompts
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_a_leaked_prompt_is_a_warning_naming_the_case_and_the_training_line(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 2, "[cand-m]": 3}))
    project.write(rubric_text(extra="training_file: ../data/train.jsonl\n"))
    train = _sft(project.path / "data" / "train.jsonl", ["unrelated", "Question two!"])

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    out = result.stdout.str()
    assert "demo: 1 evaluation prompt(s) also appear in the training data" in out
    dataset = project.path / "data" / "demo.jsonl"
    expected = f"{dataset}:2: case case-2: normalised match of {train}:2"
    assert expected in out
    assert any(expected in note for note in project.report()["notes"])


def test_leakage_fail_stops_collection_with_every_leak(project: Project) -> None:
    project.write(
        rubric_text(extra="training_file: [../data/a.jsonl, ../data/b.jsonl]\nleakage: fail\n")
    )
    a = _sft(project.path / "data" / "a.jsonl", ["question one"])
    b = _sft(project.path / "data" / "b.jsonl", ["x", "y", "question threee"])

    result = project.run()

    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    dataset = project.path / "data" / "demo.jsonl"
    assert "demo: 2 evaluation prompt(s) also appear in the training data" in out
    assert f"{dataset}:1: case case-1: exact match of {a}:1" in out
    assert f"{dataset}:3: case case-3: near (0.97) match of {b}:3" in out
    assert "Hint: take these prompts out of the evaluation set" in out
    assert not project.server.requests  # nothing was called


def test_the_command_line_names_a_training_file_and_can_make_it_fail(project: Project) -> None:
    project.write()
    train = _sft(project.path / "train.jsonl", ["question three"])

    result = project.run("--dj-training-file=train.jsonl", "--dj-set", "leakage=fail")

    result.assert_outcomes(errors=1)
    assert f"case case-3: exact match of {train}:1" in result.stdout.str()


def test_a_missing_training_file_is_named_where_it_was_given(project: Project) -> None:
    project.write(rubric_text(extra="training_file: ../data/nope.jsonl\n"))

    result = project.run()

    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    rubric = project.path / "rubrics" / "demo.yaml"
    assert f"{rubric}: training_file ../data/nope.jsonl: training file not found" in out
