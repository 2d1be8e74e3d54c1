"""The ``deltajudge`` command: ``run`` is pytest with the ``--dj-*`` options filled in (same
numbers, same exit code), ``report`` re-renders a saved report, ``diff`` compares two,
and JUnit XML carries each case's scores for CI dashboards."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conftest import PROMPTS, QUIET_PLUGINS, Project, case_score_rules, rubric_text
from deltajudge.cli import _run_parser, main, pytest_args, split_run_args
from deltajudge.pytest_plugin.options import OPTIONS

#: deltas [2, 1, 0]: mean_delta 1, so `lift` passes and `big-lift` fails.
SCORES = {"base": [1, 2, 1], "cand": [3, 3, 1]}
GATES = (
    "  - {name: lift, metric: mean_delta, grader: quality, min: 1}\n"
    "  - {name: big-lift, metric: mean_delta, grader: quality, min: 3}\n"
)


def _project(project: Project) -> None:
    project.server.set_rules(case_score_rules(PROMPTS, **SCORES))
    project.write(rubric_text(gates=GATES))


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a run concluded, without what differs between two runs of it (timing, cache)."""
    (rubric,) = report["rubrics"]
    return {
        "models": rubric["models"],
        "comparisons": rubric["comparisons"],
        "gates": rubric["gates"],
        "cases": [
            (c["id"], {a: (s["output_text"], s["scores"]) for a, s in c["samples"].items()})
            for c in rubric["cases"]
        ],
    }


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- run ----------------------------------------------------------------------------------------


def test_run_gives_the_same_report_and_exit_code_as_pytest(project: Project) -> None:
    _project(project)
    by_pytest = project.run("--dj-report-dir", "out/pytest")
    assert project.server.count() == 12

    by_cli = subprocess.run(
        [
            *(sys.executable, "-m", "deltajudge.cli", "run", "rubrics"),
            *("--config", "deltajudge.toml", "--report-dir", "out/cli"),
            *("--cache-dir", ".cli-cache", "--no-progress"),
            *("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio"),
        ],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert by_pytest.ret == pytest.ExitCode.TESTS_FAILED  # big-lift: 1 < 3
    assert by_cli.returncode == int(by_pytest.ret), by_cli.stdout + by_cli.stderr
    assert "4 passed" in by_cli.stdout and "1 failed" in by_cli.stdout
    assert "gate failed: big-lift" in by_cli.stdout
    assert project.server.count() == 24  # its own cache dir: every call made again
    assert (project.path / ".cli-cache" / "cache.sqlite3").is_file()
    from_pytest = _read(project.path / "out" / "pytest" / "report.json")
    from_cli = _read(project.path / "out" / "cli" / "report.json")
    assert _figures(from_cli) == _figures(from_pytest)
    assert _figures(from_cli)["comparisons"][0]["mean_delta"] == pytest.approx(1.0)
    assert [(g["name"], g["passed"]) for g in from_cli["rubrics"][0]["gates"]] == [
        ("lift", True),
        ("big-lift", False),
    ]
    assert not (project.path / "reports").exists()


# -- report and diff ------------------------------------------------------------------------------


@pytest.fixture
def saved_report(project: Project) -> Path:
    """A real report.json, from one run against the scripted server."""
    _project(project)
    project.run()
    return project.path / "reports" / "latest" / "report.json"


def test_report_rerenders_html_and_markdown(
    saved_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rendered"

    code = main(["report", str(saved_report), "--out", str(out)])

    assert code == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    markdown = (out / "summary.md").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    for text in (html, markdown):
        assert "demo" in text and "big-lift" in text
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {out / 'report.html'}", f"wrote {out / 'summary.md'}"]
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.md"]
    beside = saved_report.parent / "summary.md"
    beside.unlink()
    assert main(["report", str(saved_report)]) == 0  # no --out: beside the report
    assert beside.read_text(encoding="utf-8") == markdown
    assert "report.html](https://ci.example.com/r.html)" not in markdown

    url = ["--report-url", "https://ci.example.com/r.html"]
    assert main(["report", str(saved_report), "--out", str(out), *url]) == 0
    linked = (out / "summary.md").read_text(encoding="utf-8")
    assert "[report.html](https://ci.example.com/r.html)" in linked


def test_diff_exits_0_for_the_same_report_and_1_listing_the_changes(
    saved_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diff", str(saved_report), str(saved_report)]) == 0
    assert capsys.readouterr().out.splitlines() == ["no changes"]
    old = _read(saved_report)
    new = copy.deepcopy(old)
    rubric = new["rubrics"][0]
    cases = {c["id"]: c for c in rubric["cases"]}
    cases["case-1"]["samples"]["cand"]["scores"]["quality"] = 0.0
    cases["case-2"]["samples"]["base"]["output_text"] = "something else"
    rubric["cases"] = [c for c in rubric["cases"] if c["id"] != "case-3"]
    rubric["models"]["cand"]["graders"]["quality"]["mean"] = 1.5
    new["models"]["cand"]["model"] = "cand-m-v2"
    new_path = tmp_path / "new.json"
    new_path.write_text(json.dumps(new), encoding="utf-8")

    code = main(["diff", str(saved_report), str(new_path)])

    assert code == 1
    assert capsys.readouterr().out.splitlines() == [
        "model cand: cand-m -> cand-m-v2",
        "rubric demo:",
        "  mean cand/quality: 2.333 -> 1.500 (-0.833)  FELL",
        "  cases removed (1): case-3",
        "  scores changed (1): case-1 / cand / quality: 3.0 -> 0.0",
        "  outputs changed (1): case-2 / base",
    ]


def test_diff_counts_a_rubric_only_one_report_has_as_a_change(
    saved_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = _read(saved_report)
    renamed["rubrics"][0]["name"] = "demo-v2"
    new_path = tmp_path / "new.json"
    new_path.write_text(json.dumps(renamed), encoding="utf-8")

    code = main(["diff", str(saved_report), str(new_path)])

    out = capsys.readouterr().out
    assert code == 1, f"a removed and an added rubric are changes; diff printed:\n{out}"
    assert "demo-v2" in out


def test_diff_names_a_model_only_one_report_ran(
    saved_report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A candidate swapped for another alias: the diff says which, not only a mean gone."""
    swapped = _read(saved_report)
    swapped["models"]["cand2"] = swapped["models"].pop("cand") | {"model": "cand-m-v2"}
    new_path = tmp_path / "new.json"
    new_path.write_text(json.dumps(swapped), encoding="utf-8")

    code = main(["diff", str(saved_report), str(new_path)])

    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["model added: cand2 (cand-m-v2)", "model removed: cand (cand-m)"]


#: The least a report.json can hold and still be read.
EMPTY_REPORT = {
    "schema_version": 1,
    "deltajudge_version": "0.0.0",
    "created_at": "2025-01-01T00:00:00+00:00",
    "duration_s": 1.0,
    "models": {},
    "rubrics": [],
}


@pytest.mark.parametrize("command", ["report", "diff-old", "diff-new"])
def test_a_missing_report_file_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    present = tmp_path / "present.json"
    present.write_text(json.dumps(EMPTY_REPORT), encoding="utf-8")
    missing = tmp_path / "nowhere" / "report.json"
    argv = {
        "report": ["report", str(missing)],
        "diff-old": ["diff", str(missing), str(present)],
        "diff-new": ["diff", str(present), str(missing)],
    }[command]

    code = main(argv)

    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"deltajudge: {missing}: ")
    assert "not found" in captured.err
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_report_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "report.json"
    bogus.write_text('{"hello": "world"}', encoding="utf-8")

    code = main(["report", str(bogus)])

    assert code == 2
    assert f"deltajudge: {bogus}: not a deltajudge report.json" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


# -- JUnit XML ------------------------------------------------------------------------------------


def test_junit_xml_carries_each_case_items_scores(project: Project) -> None:
    _project(project)

    project.run("--junitxml", "junit.xml")

    root = ET.parse(project.path / "junit.xml").getroot()
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in root.iter("testcase")
    }
    assert properties["case-1"] == {"base.quality": "1.0", "cand.quality": "3.0"}
    assert properties["case-2"] == {"base.quality": "2.0", "cand.quality": "3.0"}
    assert properties["case-3"] == {"base.quality": "1.0", "cand.quality": "1.0"}
    assert properties["lift"] == {"value": "1.0"}
    assert properties["big-lift"] == {"value": "1.0"}
    failed = {
        case.get("name") for case in root.iter("testcase") if case.find("failure") is not None
    }
    assert failed == {"big-lift"}


# -- options anywhere -----------------------------------------------------------------------------


def _cli_run(project: Project, *argv: str) -> pytest.RunResult:
    """``deltajudge run ARGV`` in-process: the CLI's own translation, then pytest."""
    ours, passthrough = split_run_args(argv)
    ns = _run_parser().parse_args(ours)
    return project.pytester.runpytest(*QUIET_PLUGINS, *pytest_args(ns, passthrough))


@pytest.mark.parametrize(
    ("argv", "passthrough"),
    [
        (["-k", "mean_delta", "rubrics"], ["-k", "mean_delta", "rubrics"]),
        (["rubrics", "-k", "mean_delta"], ["rubrics", "-k", "mean_delta"]),
        (
            ["--junitxml", "r/j.xml", "rubrics", "-n", "2"],
            ["--junitxml", "r/j.xml", "rubrics", "-n", "2"],
        ),
        (["-n", "2", "--limit", "3", "rubrics/a.yaml"], ["-n", "2", "rubrics/a.yaml"]),
        (["--co", "-q"], ["--co", "-q"]),  # pytest's --co is not our --config
        (["rubrics", "--", "--offline"], ["rubrics", "--", "--offline"]),
    ],
)
def test_run_passes_pytest_options_through_in_any_position(
    argv: list[str], passthrough: list[str]
) -> None:
    ours, theirs = split_run_args(argv)

    assert theirs == passthrough
    args = pytest_args(_run_parser().parse_args(ours), theirs)
    assert args[: len(passthrough)] == passthrough
    assert ("--dj-limit=3" in args) == ("--limit" in argv)


def test_run_turns_its_options_into_single_dj_tokens() -> None:
    argv = [
        "--config", "../alt.toml", "rubrics", "--report-dir=/abs/out", "--model", "cand=ft:x",
        "--model", "judge=j", "-x", "--offline", "--set", "concurrency=4",
    ]  # fmt: skip
    ours, theirs = split_run_args(argv)

    args = pytest_args(_run_parser().parse_args(ours), theirs)

    assert args == [
        "rubrics", "-x", "--dj-config=../alt.toml", "--dj-model=cand=ft:x", "--dj-model=judge=j",
        "--dj-set=concurrency=4", "--dj-report-dir=/abs/out", "--dj-offline",
        "--dj-default-path=rubrics", "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip


def test_run_help_lists_every_option_and_says_pytest_options_work(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])

    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for option in OPTIONS:  # one line each: the flag, its value, what it does
        assert any(
            li.strip().startswith(f"--{option.name}") and li.endswith(option.help) for li in lines
        ), option.name
    text = "\n".join(lines)
    assert "Every pytest option works too, before or after the paths" in text
    assert "a thin shell" not in text


def test_top_level_help_is_written_for_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    text = capsys.readouterr().out
    assert "Is the fine-tuned model better than the base" in text
    for command in ("run", "init", "report", "diff"):
        assert f"    {command}" in text


def test_a_folder_whose_rubric_is_not_collected_says_why(project: Project) -> None:
    """`deltajudge run evals/` with the rubric in evals/tone.yaml: pytest says only "no tests
    ran"; the user is told which file looked like a rubric and the three ways to run it."""
    _project(project)
    (project.path / "evals").mkdir()
    (project.path / "rubrics" / "demo.yaml").rename(project.path / "evals" / "tone.yaml")
    (project.path / "evals" / "notes.yaml").write_text("owner: me\n", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "deltajudge.cli", "run", "evals", "-p", "no:cacheprovider"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.stderr.splitlines()[-2:] == [
        "deltajudge: evals/tone.yaml looks like a rubric but was not collected: a folder "
        "yields the YAML files of its rubrics/ folders and files named *.rubric.yaml",
        "Hint: name the file (deltajudge run evals/tone.yaml), move it into a rubrics/ "
        "folder, or rename it tone.rubric.yaml",
    ]
    assert project.server.count() == 0


def test_every_argument_of_every_command_says_what_it_is() -> None:
    """`deltajudge diff --help` listing `old new` with nothing beside them teaches nothing."""
    import argparse

    from deltajudge.cli import _parser

    bare: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not action.help and not isinstance(
                action, argparse._HelpAction | argparse._VersionAction
            ):
                bare.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(_parser(), "deltajudge")

    assert bare == []


def test_k_and_junitxml_before_the_paths_work(project: Project) -> None:
    _project(project)

    result = _cli_run(
        project, "-k", "case-1", "--junitxml", "out/j.xml", "--no-progress", "rubrics"
    )

    result.assert_outcomes(passed=1, deselected=4)
    names = {
        c.get("name") for c in ET.parse(project.path / "out" / "j.xml").getroot().iter("testcase")
    }
    assert names == {"case-1"}
    assert project.server.count() == 4  # one case: two answers, two judgments


def test_run_with_no_path_collects_rubrics_not_the_whole_project(project: Project) -> None:
    _project(project)
    project.pytester.makepyfile(test_unrelated="def test_x():\n    assert False\n")

    result = _cli_run(project, "--no-progress")

    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("failed")) == (4, 1)  # big-lift only
    assert "test_unrelated" not in result.stdout.str()


def test_an_absolute_report_dir_works_again_once_it_exists(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _project(project)
    out = tmp_path_factory.mktemp("abs-reports")

    for _ in range(2):
        result = _cli_run(project, "rubrics", "--report-dir", str(out), "--no-progress")
        assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()  # big-lift
        result.assert_outcomes(passed=4, failed=1)
    assert (out / "report.json").is_file()
    assert project.server.count() == 12  # the second run: all from the project's cache


def test_a_config_elsewhere_keeps_reports_and_cache_in_the_project(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _project(project)
    alt = tmp_path_factory.mktemp("elsewhere") / "alt.toml"
    (project.path / "deltajudge.toml").rename(alt)

    result = _cli_run(project, "--config", str(alt), "--no-progress")

    result.assert_outcomes(passed=4, failed=1)
    assert (project.path / "reports" / "latest" / "report.json").is_file()
    assert (project.path / ".deltajudge" / "cache.sqlite3").is_file()
    assert sorted(p.name for p in alt.parent.iterdir()) == ["alt.toml"]


def test_a_missing_alias_is_hinted_in_the_run_commands_spelling(project: Project) -> None:
    _project(project)
    rubric = project.path / "rubrics" / "demo.yaml"
    rubric.write_text(rubric.read_text().replace("model: judge", "model: judge.v2"))

    result = _cli_run(project, "--no-progress")

    result.stdout.fnmatch_lines(
        [
            "*rubrics/demo.yaml:7:5: model alias 'judge.v2' is not configured*",
            'Hint: add [[]models."judge.v2"[]] with model = "..." to */deltajudge.toml, '
            "or pass --model judge.v2=MODEL_ID",
        ]
    )
    assert project.server.count() == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ("--model", "cand"),
            [
                "ERROR: --model expects ALIAS=MODEL (got 'cand')",
                "Hint: for example --model candidate=ft:gpt-4.1-mini:org::abc",
            ],
        ),
        (("--limit", "0"), ["ERROR: --limit expects a number of cases >= 1 (got 0)"]),
        (("--batch", "later"), ["ERROR: --batch expects submit or collect (got 'later')"]),
        (
            ("--shard", "5/4"),
            [
                "ERROR: --shard 5/4: expected 1 <= K <= N (got K=5, N=4)",
                "Hint: shards are numbered 1..N, e.g. --shard 1/4 ... --shard 4/4",
            ],
        ),
        (
            ("--set", "concurrency"),
            [
                "ERROR: --set expects KEY=VALUE (got 'concurrency')",
                "Hint: for example --set models.candidate.model=ft:gpt-4.1-mini:org::abc",
            ],
        ),
    ],
)
def test_a_malformed_assignment_is_named_in_the_run_commands_spelling(
    project: Project, argv: tuple[str, ...], expected: list[str]
) -> None:
    """`deltajudge run --model cand` must not answer with `--dj-model ... models.x.model=`:
    neither the option nor the example is one the user can type there."""
    _project(project)

    result = _cli_run(project, *argv)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(expected)
    assert project.server.count() == 0


def test_junit_names_a_gate_exactly_as_pytest_does(project: Project) -> None:
    project.server.set_rules(case_score_rules(PROMPTS, **SCORES))
    project.write(
        rubric_text(
            gates="  - {metric: mean_delta, grader: quality, min: 1}\n"
            "  - {metric: mean, grader: quality, model: base, min: 1, max: 2}\n"
        )
    )

    project.run("--junitxml", "junit.xml")

    names = {c.get("name") for c in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    assert names == {
        *PROMPTS,
        "mean_delta(quality, cand) >= 1",
        "mean(quality, base) in [1, 2]",
    }


def test_run_with_no_path_and_no_rubrics_folder_says_what_to_do(project: Project) -> None:
    result = _cli_run(project)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: no rubrics/ folder in *: name rubric files or folders*deltajudge init*"]
    )


def test_the_readme_script_example_is_a_valid_script() -> None:
    from deltajudge.testing import parse_script

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    after = readme.split("This script plays a regressed fine-tune", 1)[1]
    block = after.split("```json\n", 1)[1].split("```", 1)[0]

    script = parse_script(json.loads(block))

    assert [(r.judge, r.contains) for r in script.rules] == [(True, "[base-m]"), (True, "[cand-m]")]


def test_plain_pytest_refuses_an_outside_path_as_a_separate_word(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _project(project)
    out = tmp_path_factory.mktemp("outside")

    refused = project.run("--dj-report-dir", str(out))
    accepted = project.run(f"--dj-report-dir={out}")

    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines([f"*--dj-report-dir {out}: a path outside this folder*"])
    assert f"Hint: write --dj-report-dir={out}" in refused.stderr.str()
    accepted.assert_outcomes(passed=4, failed=1)
    assert (out / "report.json").is_file()


def test_init_with_your_own_data_set_points_the_rubric_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "fixtures" / "held_out.jsonl"
    data.parent.mkdir()
    data.write_text('{"input": "a"}\n{"input": "b",}\n', encoding="utf-8")
    argv = ["init", "--dir", str(tmp_path), "--candidate-model", "ft:x", "--data", str(data)]

    assert main(argv) == 2  # checked before anything is written, with its line
    assert f"{data}:2:" in capsys.readouterr().err and not (tmp_path / "rubrics").exists()
    data.write_text('{"input": "a"}\n{"input": "b"}\n', encoding="utf-8")
    assert main(argv) == 0

    rubric = (tmp_path / "rubrics" / "quality.yaml").read_text(encoding="utf-8")
    assert 'dataset: "../fixtures/held_out.jsonl"' in rubric
    assert not (tmp_path / "data").exists()
    printed = capsys.readouterr().out
    assert "export OPENAI_API_KEY=..." in printed  # no --base-url: the aliases need a key
    assert "replace the example prompts" not in printed
