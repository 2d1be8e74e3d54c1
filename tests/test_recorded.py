"""A retiring fine-tune as a permanent baseline: ``deltajudge record`` writes its answers,
an alias with ``provider = "recorded"`` answers from them and never calls an API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import PROMPTS, Project, item_outcomes, item_reports, judge_json, prompt_rows
from deltajudge.cli import main
from deltajudge.errors import ConfigError
from deltajudge.settings import ModelConfig
from deltajudge.testing import Rule

RECORDED = {
    "old": {
        "provider": "recorded",
        "path": "recordings/old.jsonl",
        "model": None,
        "base_url": None,
        "api": None,
    }
}


def _record(project: Project, monkeypatch: pytest.MonkeyPatch, *extra: str) -> list[dict[str, Any]]:
    monkeypatch.chdir(project.path)
    code = main(
        ["record", "cand", "--rubric", "rubrics/demo.yaml", "--out", "recordings/old.jsonl", *extra]
    )
    assert code == 0
    lines = (project.path / "recordings" / "old.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_record_writes_a_portable_line_per_answer(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(models={"cand": {"system": "Be brief."}})
    rows = _record(project, monkeypatch, "--samples", "2")
    assert project.server.count(model="cand-m") == 6  # 3 cases x 2 samples
    assert len(rows) == 6
    first = rows[0]
    assert first["case_id"] == "case-1" and first["sample"] in (0, 1)
    assert first["answer"] == "[cand-m] question one"
    assert first["model"] == "cand-m" and first["system"] == "Be brief."
    assert len(first["input_hash"]) == 64 and first["recorded_at"].endswith("+00:00")
    assert {(r["case_id"], r["sample"]) for r in rows} == {(c, s) for c in PROMPTS for s in (0, 1)}


def _replay_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.server.set_rules([Rule(judge=True, reply=judge_json(2))])
    project.write()
    _record(project, monkeypatch)
    project.server.reset()
    project.write(
        rubric=None,
        models=RECORDED,
    )
    rubric = (project.path / "rubrics" / "demo.yaml").read_text(encoding="utf-8")
    project.write_rubric(rubric.replace("models: [base, cand]", "models: [old, cand]"))


def test_a_recorded_alias_answers_from_the_file_and_never_calls_an_api(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replay_project(project, monkeypatch)
    result = project.run("--dj-no-cache")
    assert result.ret == 0, result.stdout.str()
    assert project.server.count(model="cand-m") == 3  # the replacement, asked now
    assert not [r for r in project.requests(judge=False) if r.model != "cand-m"]
    (case,) = [c for c in project.rubric_report()["cases"] if c["id"] == "case-2"]
    assert case["samples"]["old"]["output_text"] == "[cand-m] question two"


def test_a_case_the_recording_lacks_or_whose_prompt_changed_fails_naming_it(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replay_project(project, monkeypatch)
    rows = prompt_rows()
    rows[1]["input"] = "question two, reworded"
    rows.append({"id": "case-4", "input": "a new question"})
    project.write_rows(rows)
    result = project.run()
    outcomes = item_outcomes(result)
    assert outcomes["case-1"] == "passed" and outcomes["case-3"] == "passed"
    reports = item_reports(result)
    assert "case 'case-2': its prompt changed since it was recorded" in (
        reports["case-2"].longreprtext
    )
    assert "case 'case-4' is not in the recording recordings/old.jsonl (3 cases recorded)" in (
        reports["case-4"].longreprtext
    )


def test_a_missing_recording_fails_collection_with_the_fix(project: Project) -> None:
    project.write(models=RECORDED)
    rubric = (project.path / "rubrics" / "demo.yaml").read_text(encoding="utf-8")
    project.write_rubric(rubric.replace("models: [base, cand]", "models: [old, cand]"))
    result = project.run()
    assert result.ret != 0
    out = result.stdout.str()
    assert "model alias 'old': recording not found: recordings/old.jsonl" in out
    assert "deltajudge record ALIAS --rubric RUBRIC --out recordings/old.jsonl" in out


def test_a_recorded_alias_needs_a_path() -> None:
    with pytest.raises(ValueError, match="provider recorded needs `path`"):
        ModelConfig.model_validate({"provider": "recorded"})
    config = ModelConfig.model_validate({"provider": "recorded", "path": "r.jsonl"})
    assert config.model == "recorded:r.jsonl"


def test_a_damaged_recording_line_is_an_error_with_path_and_line(tmp_path: Path) -> None:
    from deltajudge.generation.recorded import Recording

    path = tmp_path / "r.jsonl"
    path.write_text('{"case_id": "a"}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Recording.load(path)
    assert info.value.location == f"{path}:1"


def test_a_recording_answers_by_case_and_sample_and_by_prompt_without_a_case_id(
    tmp_path: Path,
) -> None:
    from deltajudge.errors import GenerationError
    from deltajudge.generation.recorded import RecordedAnswer, Recording, input_hash

    asked = [{"role": "user", "content": "hi"}]
    digest = input_hash(asked)
    lines = [
        RecordedAnswer("a", digest, 1, "second", "old", "m", usage=(3, 4)),
        RecordedAnswer("a", digest, 0, "first", "old", "m", usage=(3, 4)),
        RecordedAnswer("b", input_hash([{"role": "user", "content": "yo"}]), 0, "b0", "old", "m"),
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(line.to_line() + "\n" for line in lines), encoding="utf-8")
    recording = Recording.load(path)

    assert [recording.answer("a", asked, s).answer for s in (0, 1, 2)] == [
        "first",
        "second",
        "first",
    ]
    assert recording.answer("a", asked, 0).usage == (3, 4)
    assert recording.answer("", asked, 1).answer == "second"  # by the prompt's hash
    with pytest.raises(GenerationError, match="no answer to this prompt"):
        recording.answer("", [{"role": "user", "content": "other"}], 0)
    with pytest.raises(GenerationError, match=r"case 'c' is not in the recording .* \(2 cases"):
        recording.answer("c", asked, 0)
    with pytest.raises(GenerationError, match="case 'b': its prompt changed"):
        recording.answer("b", asked, 0)


def test_answers_are_read_back_by_byte_offset_past_non_ascii_lines_and_blank_ones(
    tmp_path: Path,
) -> None:
    from deltajudge.generation.recorded import RecordedAnswer, Recording, input_hash

    asked = {c: [{"role": "user", "content": f"question {c}"}] for c in "abc"}
    answers = {"a": "Grüße — ☕ " * 5, "b": "plain", "c": "日本語の答え"}
    path = tmp_path / "r.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for case_id, text in answers.items():
            out.write(
                RecordedAnswer(case_id, input_hash(asked[case_id]), 0, text, "o", "m").to_line()
            )
            out.write("\n\n")  # blank lines are skipped, and still counted in the offsets
    recording = Recording.load(path)
    assert {c: recording.answer(c, asked[c], 0).answer for c in "cab"} == answers
    path.write_bytes(b'{"case_id": "a", "answer": "\xff"}\n')
    with pytest.raises(ConfigError) as info:
        Recording.load(path)  # not UTF-8: the line is named
    assert info.value.location == f"{path}:1"
