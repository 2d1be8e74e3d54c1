"""``deltajudge init --from-grader``: a pasted OpenAI grader becomes a suite that runs.

The end-to-end test pastes the DPO guide's kind of grader on stdin, points every alias at
the scripted server, runs the written project with pytest and sees the gate fail on a
regressed candidate, with the verdict first in summary.md and the link ``--dj-report-url``
asked for.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conftest import Project, scores_by_marker
from deltajudge.cli import main
from deltajudge.judging.loading import load_rubric

GRADER = {
    "type": "score_model",
    "name": "tone",
    "model": "judge-m",
    "input": [
        {"role": "system", "content": "Rate the tone of the response from 0 to 4."},
        {
            "role": "user",
            "content": "**User input**\n{{item.input}}\n**Response to evaluate**\n"
            "{{sample.output_text}}",
        },
    ],
    "range": [0, 4],
    "pass_threshold": 2,
}


def _init(project: Project, monkeypatch: pytest.MonkeyPatch, pasted: str, *extra: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(pasted))
    argv = ["init", "--dir", str(project.path), "--from-grader", "-"]
    argv += ["--baseline-model", "base-m", "--candidate-model", "cand-m"]
    return main([*argv, "--base-url", project.server.url, *extra])


def test_a_pasted_grader_runs_and_gates_a_regressed_candidate(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init(project, monkeypatch, json.dumps(GRADER, indent=2)) == 0
    printed = capsys.readouterr().out
    assert "deltajudge run " in printed and "--junitxml" in printed  # run, and gate CI
    config = (project.path / "deltajudge.toml").read_text(encoding="utf-8")
    assert '[models.judge-m]\nmodel = "judge-m"' in config
    rubric = load_rubric(project.path / "rubrics" / "quality.yaml").rubric
    assert [g.name for g in rubric.graders] == ["tone"]
    project.server.set_rules(scores_by_marker({"[base-m]": 4, "[cand-m]": 0}))

    result = project.run("--dj-report-url=https://ci.example/run/7/report.html")

    result.assert_outcomes(passed=9, failed=1)  # 8 cases, "no errors"; "not worse" fails
    assert "verdict: ✗ 1 of 2 gates failed: not worse" in result.stdout.str()
    summary = (project.path / "reports" / "latest" / "summary.md").read_text(encoding="utf-8")
    lines = summary.splitlines()
    assert lines[2] == "### ❌ 1 of 2 gates failed" and lines[4].startswith("- **not worse**")
    assert "candidate (cand-m)" in summary and "baseline base (base-m)" in summary
    assert "[report.html](https://ci.example/run/7/report.html)" in summary


def test_bad_json_is_named_by_line_and_column_and_nothing_is_written(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pasted = '{\n  "type": "score_model",\n  "range": [0, 4]\n  "pass_threshold": 2\n}\n'
    assert _init(project, monkeypatch, pasted) == 2
    err = capsys.readouterr().err
    assert "<stdin>:4:3: invalid JSON: Expecting ',' delimiter" in err
    assert "Hint:" in err
    assert (
        not (project.path / "rubrics").exists() and not (project.path / "deltajudge.toml").exists()
    )


def test_a_python_dict_without_a_judge_gets_the_default_gates(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    pasted = (
        "grader = {'type': 'string_check', 'name': 'thanks', 'input': '{{sample.output_text}}',\n"
        "          'reference': 'thank', 'operation': 'ilike',}\n"
    )
    assert _init(project, monkeypatch, pasted, "--name", "polite") == 0
    text = (project.path / "rubrics" / "polite.yaml").read_text(encoding="utf-8")
    assert "gates:" not in text  # a rubric without gates: gets not_worse and errors <= 0
    config = (project.path / "deltajudge.toml").read_text(encoding="utf-8")
    assert "[models.base]" in config and "[models.candidate]" in config
    assert config.count("[models.") == 2  # no judge alias for a string check
    loaded = load_rubric(project.path / "rubrics" / "polite.yaml")
    assert [g.type for g in loaded.rubric.graders] == ["string_check"]


def test_an_unrunnable_grader_type_is_named(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _init(project, monkeypatch, json.dumps({**GRADER, "type": "vision_model"})) == 2
    assert "testing_criteria[0].type: 'vision_model' is not a grader" in capsys.readouterr().err


def test_init_into_another_folder_says_to_cd_there_before_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deltajudge run` finds its project from the current folder: after `--dir sub`, a bare
    `deltajudge run` here would collect nothing (or another project)."""
    monkeypatch.chdir(tmp_path)

    assert main(["init", "--candidate-model", "cand-m", "--dir", "my evals"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines.index("  cd 'my evals'") < next(
        i for i, line in enumerate(lines) if line.startswith("  deltajudge run ")
    )


def test_init_here_prints_no_cd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["init", "--candidate-model", "cand-m"]) == 0

    assert "  cd " not in capsys.readouterr().out


def test_reasoning_models_get_no_temperature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """o-series and gpt-5 models answer a request with `temperature` with HTTP 400, so a
    project written for them must not set one (a judge pasted as `model: o3-mini` too)."""
    import tomllib

    monkeypatch.chdir(tmp_path)
    argv = ["init", "--candidate-model", "ft:o4-mini-2025-04-16:org::x", "--judge-model", "o3-mini"]

    assert main([*argv, "--baseline-model", "gpt-5-mini"]) == 0

    models = tomllib.loads((tmp_path / "deltajudge.toml").read_text())["models"]
    assert all("params" not in models[alias] for alias in ("base", "candidate", "judge"))


def test_other_models_are_asked_at_temperature_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    monkeypatch.chdir(tmp_path)

    assert main(["init", "--candidate-model", "ft:gpt-4.1-mini:org::abc"]) == 0

    models = tomllib.loads((tmp_path / "deltajudge.toml").read_text())["models"]
    assert {alias: m["params"] for alias, m in models.items()} == {
        alias: {"temperature": 0} for alias in ("base", "candidate", "judge")
    }


def test_a_new_project_passes_its_gates_when_the_candidate_is_as_good(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first `deltajudge run` of an init project must be able to pass: with five example
    prompts `not worse` could never reach its 6 cases, and an identical candidate failed CI."""
    argv = ["init", "--dir", str(project.path), "--base-url", project.server.url]
    argv += ["--baseline-model", "base-m", "--candidate-model", "cand-m"]
    assert main([*argv, "--judge-model", "judge-m"]) == 0
    capsys.readouterr()
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 3}))

    result = project.run()

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*gate PASS: not worse*", "*gate PASS: no errors*"])


def test_init_with_a_data_set_too_small_for_the_gate_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.jsonl").write_text('{"input": "a"}\n{"input": "b"}\n\n', encoding="utf-8")

    assert main(["init", "--candidate-model", "cand-m", "--data", "mine.jsonl"]) == 0

    assert capsys.readouterr().err.splitlines() == [
        "note: mine.jsonl has 2 row(s): the `not worse` gate needs at least 6 cases, "
        "so it fails until the data set has more"
    ]
