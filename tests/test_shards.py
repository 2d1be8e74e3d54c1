"""Shards: ``--dj-shard K/N`` runs write ``results.jsonl``, ``deltajudge merge`` concludes
their union exactly as one run would, and the results file round-trips exactly.

End to end against the scripted server: the same suite run once, then as 4 shards merged,
must give the same report.json (figures, gates, per-case verdicts), timestamps aside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, item_outcomes, judge_json, rubric_text
from deltajudge.cli import main
from deltajudge.errors import ConfigError
from deltajudge.judging.types import Grade, Sample
from deltajudge.results import TokenUsage
from deltajudge.results_file import (
    CaseLine,
    Header,
    RubricHeader,
    Trailer,
    case_dict,
    case_from,
    header_dict,
    header_from,
    load_results,
    trailer_dict,
    trailer_from,
)
from deltajudge.settings import ModelConfig
from deltajudge.shards import parse_shard, shard_of
from deltajudge.stats.agreement import Agreement, JudgeValidation
from deltajudge.testing import Rule

#: 16 cases: enough that each of 4 shards gets some, with scores that vary per case.
PROMPTS16 = {f"case-{i:02d}": f"question {i}" for i in range(16)}
BASE = [1, 2, 2, 1, 3, 2, 1, 2, 2, 3, 1, 2, 2, 1, 3, 2]
CAND = [2, 3, 2, 3, 3, 1, 2, 3, 3, 4, 2, 2, 3, 2, 4, 3]
GATES = (
    "  - name: lift\n    metric: mean_delta\n    grader: quality\n    min: 0.2\n"
    "  - name: big-lift\n    metric: mean_delta\n    grader: quality\n    min: 2\n"
)
#: Timing, and the notes: each shard's cost estimate is its own (checked apart).
VOLATILE = {"created_at", "duration_s", "notes"}


def _rules() -> list[Rule]:
    rules = []
    for alias, scores in (("base", BASE), ("cand", CAND)):
        for prompt, score in zip(PROMPTS16.values(), scores, strict=True):
            # "question 1" is a prefix of "question 10": match the answer and the line end
            rules.append(
                Rule(judge=True, contains=f"[{alias}-m] {prompt}\n", reply=judge_json(score))
            )
    return rules


GRADER = """\
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    pass_threshold: 2
    input:
      - role: user
        content: "Question: {{ prompt }} Answer: {{ sample.output_text }}\\nGrade it."
"""


def _write(project: Project) -> None:
    rows = [{"id": i, "input": p} for i, p in PROMPTS16.items()]
    project.server.set_rules(_rules())
    project.write(rubric_text(graders=GRADER, gates=GATES), rows)


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "report.json").read_text(encoding="utf-8"))
    return data


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in VOLATILE}


def test_four_shards_merged_equal_the_single_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    single = project.run("--dj-no-cache")
    single.assert_outcomes(passed=17, failed=1)  # 16 cases, lift passes, big-lift fails
    single_requests = len(project.server.requests)
    whole = _report(project.path / "reports" / "latest")

    folders = []
    for k in range(1, 5):
        shard = project.run("--dj-no-cache", f"--dj-shard={k}/4")
        outcomes = item_outcomes(shard)
        assert outcomes["lift"] == outcomes["big-lift"] == "skipped"
        assert shard.ret == 0  # a shard's exit code reflects its cases only
        folder = project.path / "reports" / f"latest-shard-{k}-of-4"
        assert (folder / "results.jsonl").is_file()
        report = _report(folder)
        assert report["shard"] == f"{k}/4"
        assert report["notes"][0].startswith(f"SHARD {k}/4")
        folders.append(folder)
    assert len(project.server.requests) == 2 * single_requests  # each case once more, no more

    merged_dir = project.path / "reports" / "merged"
    code = main(["merge", *map(str, folders), "--report-dir", str(merged_dir)])

    assert code == 1  # big-lift fails, as in the single run
    out = capsys.readouterr().out
    assert "gate failed: demo: big-lift" in out
    merged = _report(merged_dir)
    assert _comparable(merged) == _comparable(whole)
    assert [n.split(": ")[0] for n in merged["notes"]] == [f"shard {k}/4" for k in range(1, 5)]
    assert all("estimated before the run" in n for n in merged["notes"])
    assert {g["name"]: g["passed"] for g in merged["rubrics"][0]["gates"]} == {
        "lift": True,
        "big-lift": False,
    }
    assert len(merged["rubrics"][0]["cases"]) == 16
    assert (merged_dir / "report.html").is_file() and (merged_dir / "summary.md").is_file()


def test_a_shard_says_it_is_a_shard_not_a_k_selection(project: Project) -> None:
    """A shard is partial by design: its summary must not blame -k or a deselection."""
    _write(project)

    result = project.run("--dj-shard=1/4")

    result.stdout.fnmatch_lines(
        ["partial run: * of 16 cases (shard 1/4; `deltajudge merge` concludes the run)*"]
    )
    assert "-k, deselection" not in result.stdout.str()


def test_every_case_is_in_exactly_one_shard_and_stays_there() -> None:
    ids = [f"row-{i}" for i in range(400)]
    shards = [shard_of("tone", i, 4) for i in ids]
    assert set(shards) == {1, 2, 3, 4}
    assert min(shards.count(k) for k in range(1, 5)) > 60  # roughly a quarter each
    more = [*ids, *(f"new-{i}" for i in range(50))]  # adding cases moves none of the others
    assert [shard_of("tone", i, 4) for i in more[:400]] == shards


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0"])
def test_a_bad_shard_is_a_usage_error(project: Project, text: str) -> None:
    _write(project)
    result = project.run(f"--dj-shard={text}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dj-shard*"])
    with pytest.raises(ConfigError):
        parse_shard(text)


def test_merge_names_a_missing_shard_and_a_shard_given_twice(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    for k in (1, 2, 3):
        project.run(f"--dj-shard={k}/3")
    folder = project.path / "reports"
    one, two = folder / "latest-shard-1-of-3", folder / "latest-shard-2-of-3"
    out = str(folder / "merged")

    assert main(["merge", str(one), str(two), "--report-dir", out]) == 2
    assert "missing shard 3/3 (got 1/3, 2/3)" in capsys.readouterr().err
    assert main(["merge", str(one), str(one), "--report-dir", out]) == 2
    assert "shard 1/3 given twice" in capsys.readouterr().err
    project.run()  # a plain run's folder is not a shard
    assert main(["merge", str(folder / "latest"), str(one), "--report-dir", out]) == 2
    assert "not a shard" in capsys.readouterr().err


def test_merge_refuses_shards_of_a_changed_rubric(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    project.run("--dj-shard=1/2")
    rubric = project.path / "rubrics" / "demo.yaml"
    rubric.write_text(rubric.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    project.run("--dj-shard=2/2")
    folder = project.path / "reports"
    shards = [str(folder / f"latest-shard-{k}-of-2") for k in (1, 2)]

    assert main(["merge", *shards, "--report-dir", str(folder / "m")]) == 2
    err = capsys.readouterr().err
    assert "rubrics/demo.yaml: the rubric file differs between shard 1/2 and shard 2/2" in err


def test_a_killed_run_leaves_complete_lines_and_merge_says_it_did_not_finish(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    project.run("--dj-shard=1/2")
    project.run("--dj-shard=2/2")
    path = project.path / "reports" / "latest-shard-2-of-2" / "results.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    partial = path.with_name("results.jsonl.partial")  # what a killed run leaves
    partial.write_text("".join(lines[:-2]) + lines[-2][:20], encoding="utf-8")  # cut mid-line
    path.unlink()

    loaded = load_results(path.parent)
    assert loaded.path == partial
    assert loaded.trailer is None
    assert len(loaded.cases) == len(lines) - 3  # header, the cut case and the trailer gone
    folders = [str(path.parent.parent / f"latest-shard-{k}-of-2") for k in (1, 2)]
    assert main(["merge", *folders, "--report-dir", str(path.parent.parent / "m")]) == 2
    assert "shard 2/2 did not finish (no trailer line: killed?)" in capsys.readouterr().err


def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    header = header_dict(Header(started_at=1.0, rubrics=(), shard=(1, 2)))
    path.write_text(json.dumps(header) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"results\.jsonl:2:2: not a results line"):
        load_results(path)


def test_every_run_streams_results_and_they_round_trip_exactly(project: Project) -> None:
    _write(project)
    project.run()
    loaded = load_results(project.path / "reports" / "latest")
    assert loaded.header.shard is None
    assert loaded.header.rubrics[0].path == "rubrics/demo.yaml"
    assert loaded.header.rubrics[0].selected == tuple(PROMPTS16)
    assert sorted(c.id for c in loaded.cases) == sorted(PROMPTS16)
    assert loaded.trailer is not None
    assert loaded.trailer.models["cand"].model == "cand-m"
    assert loaded.trailer.tokens["judge"].calls == 32
    first = loaded.cases[0]
    assert first.grades["cand"]["quality"].score in CAND
    assert first.samples["base"].output_text.startswith("[base-m] question")


def _validation() -> JudgeValidation:
    judge = Agreement(
        agree=8, disagree=2, ties=1, rate=0.8, ci_low=0.5, ci_high=0.9, p_vs_chance=0.05
    )
    length = Agreement(
        agree=5, disagree=5, ties=1, rate=0.5, ci_low=None, ci_high=None, p_vs_chance=None
    )
    return JudgeValidation(judge, length, judge, p_vs_length=0.1, errors=1, reasons=["why"])


def test_the_line_formats_round_trip_every_field() -> None:
    sample = Sample("cand", "hi", 3, 4, cached=True, error=None, turns=("a", "hi"))
    grade = Grade(
        score=2.5,
        passed=True,
        reasoning="r",
        label="good",
        raw='{"score": 2.5}',
        error=None,
        samples=(2.0, 3.0),
        details={"inconsistent": 0.0},
    )
    line = CaseLine("rubrics/x.yaml", "abc", "id-1", {"cand": sample}, {"cand": {"q": grade}})
    assert case_from(json.loads(json.dumps(case_dict(line)))) == line
    header = Header(
        started_at=12.5,
        rubrics=(RubricHeader("rubrics/x.yaml", "x", "a", "b", ("id-1", "id-2")),),
        shard=(2, 3),
    )
    assert header_from(json.loads(json.dumps(header_dict(header)))) == header
    trailer = Trailer(
        duration_s=1.5,
        models={"cand": ModelConfig(model="m", base_url="http://u:secretpass@h/v1")},
        tokens={"cand": TokenUsage(1, 2, 3, 4, 0.5)},
        calls=3,
        cache_hits=1,
        notes=("n",),
        collection_notes=("leaked: 2 prompts",),
        interrupted=None,
        exit_code=0,
        noise={"rubrics/x.yaml": ("q", {("id-1", "cand"): [1.0, 2.0]})},
        agreements={"rubrics/x.yaml": {("agrees", "pref"): _validation()}},
    )
    back = trailer_from(json.loads(json.dumps(trailer_dict(trailer))))
    assert back.noise == trailer.noise and back.tokens == trailer.tokens
    assert back.agreements == trailer.agreements
    assert back.notes == trailer.notes and back.collection_notes == trailer.collection_notes
    assert back.models["cand"].base_url == "http://u:[REDACTED]@h/v1"  # no secrets on disk


# -- pytest-xdist: each worker one shard, the controller merges -----------------------------


def test_xdist_evaluates_each_case_once_and_the_controller_writes_one_report(
    project: Project,
) -> None:
    _write(project)
    plain = project.run("--dj-no-cache")
    plain_requests = project.server.count()
    whole = _report(project.path / "reports" / "latest")

    result = project.run_subprocess("-n", "2", "--dj-no-cache", "-v")

    assert result.ret == plain.ret == pytest.ExitCode.TESTS_FAILED  # big-lift fails
    assert project.server.count() - plain_requests == plain_requests == 64  # not 128
    result.stdout.fnmatch_lines(["*PASSED*demo.yaml::lift*", "*FAILED*demo.yaml::big-lift*"])
    result.stdout.fnmatch_lines(["*=== deltajudge ===*"])
    assert result.stdout.str().count("=== deltajudge ===") == 1
    assert "17 passed" in result.stdout.str() and "1 failed" in result.stdout.str()
    merged = _report(project.path / "reports" / "latest")
    assert _comparable(merged) == _comparable(whole)
    again = load_results(project.path / "reports" / "latest")
    assert again.trailer is not None and len(again.cases) == 16
    assert not (project.path / ".deltajudge" / "xdist").exists() or not any(
        (project.path / ".deltajudge" / "xdist").iterdir()
    )


@pytest.mark.parametrize("option", ["--dj-shard=1/2", "--dj-batch=submit"])
def test_a_shard_or_batch_run_under_xdist_is_refused(project: Project, option: str) -> None:
    _write(project)
    result = project.run_subprocess("-n", "2", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option.split('=')[0]}* cannot go with pytest-xdist's -n*"])
    assert project.server.count() == 0


def _worker(folder: Path, worker: str = "gw0", count: int = 2) -> Any:
    """What `xdist` reads of a worker's config: its ``workerinput`` and a stash."""
    from types import SimpleNamespace

    workerinput = {"workerid": worker, "workercount": count, "dj_xdist_folder": str(folder)}
    return SimpleNamespace(workerinput=workerinput, stash=pytest.Stash())


def test_a_worker_waits_a_bounded_time_and_names_the_worker_it_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltajudge.pytest_plugin import xdist
    from deltajudge.shards import Shard

    monkeypatch.setenv("DELTAJUDGE_XDIST_WAIT_S", "0.2")
    config = _worker(tmp_path)
    own = xdist.shard_file(tmp_path, Shard(1, 2))
    own.write_text(json.dumps(header_dict(Header(1.0, (), (1, 2)))) + "\n", encoding="utf-8")
    with pytest.raises(xdist._WaitFailed, match=r"timed out after 0.2 s waiting for worker gw0"):
        xdist._wait_for_all(config)  # its own shard has no trailer yet: still waiting
    own.with_suffix(".failed").write_text("no key for alias 'judge'", encoding="utf-8")
    with pytest.raises(xdist._WaitFailed, match=r"gw0 \(shard 1/2\) could not run.*'judge'"):
        xdist._wait_for_all(config)


def test_merge_accepts_and_then_gates_on_a_baseline(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    folders = []
    for k in (1, 2):
        project.run(f"--dj-shard={k}/2", "--dj-baseline=reports/baseline.json")
        folders.append(str(project.path / "reports" / f"latest-shard-{k}-of-2"))
    assert not (project.path / "reports" / "baseline.json").exists()  # never from a shard
    out = str(project.path / "reports" / "merged")

    assert main(["merge", *folders, "--report-dir", out, "--baseline", "reports/baseline.json"])
    first = {g["name"]: g["passed"] for g in _report(Path(out))["rubrics"][0]["gates"]}
    assert first["baseline"] is False  # no accepted baseline yet
    assert "gate failed: demo: baseline" in capsys.readouterr().out
    main(
        [
            "merge",
            *folders,
            "--report-dir",
            out,
            "--baseline=reports/baseline.json",
            "--update-baseline",
        ]
    )
    assert (project.path / "reports" / "baseline.json").is_file()
    main(["merge", *folders, "--report-dir", out, "--baseline", "reports/baseline.json"])
    gates = {g["name"]: g["passed"] for g in _report(Path(out))["rubrics"][0]["gates"]}
    assert gates == {"lift": True, "big-lift": False, "baseline": True}


def test_merge_refuses_shards_that_asked_different_models(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(project)
    project.run("--dj-shard=1/2")
    project.run("--dj-shard=2/2", "--dj-model=cand=cand-m2")
    folders = [str(project.path / "reports" / f"latest-shard-{k}-of-2") for k in (1, 2)]

    assert main(["merge", *folders, "--report-dir", str(project.path / "m")]) == 2
    err = capsys.readouterr().err
    assert "alias 'cand' is model 'cand-m' in shard 1/2 but 'cand-m2' in shard 2/2" in err


def test_xdist_workers_share_the_spending_cap(project: Project) -> None:
    prices = "[prices]\n" + "".join(  # $0.001 a token, as in test_costs
        f"{model} = {{ input = 1000.0, output = 1000.0 }}\n" for model in ("base-m", "cand-m")
    )
    project.server.set_rules([Rule(judge=True, reply=judge_json(2))])
    project.write(rows=[{"id": f"q{i}", "input": f"question {i}"} for i in range(50)])
    project.write_config(extra=prices)

    # The run is estimated at ~$40.7, each worker's half at ~$20: under a $30 cap, but
    # not under the worker's $15 share of it.
    result = project.run_subprocess("-n", "2", "--dj-max-cost=30")

    assert result.ret != 0
    assert "above the spending cap (max_cost) of $15" in result.stdout.str()
    assert project.server.count() == 0  # nothing paid


def test_a_judge_agreement_gate_is_carried_from_the_shards_to_the_merge(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_judge_agreement_gate import AGREEMENT, GATES, _project

    good = Rule(judge=True, contains="Answer: GOOD", reply=judge_json(4))
    bad = Rule(judge=True, contains="Answer: BAD", reply=judge_json(1))
    _project(project, [good, bad])
    project.write_rubric(rubric_text(gates=GATES))
    project.run("--dj-no-cache")
    whole = _report(project.path / "reports" / "latest")
    folders = []
    for k in (1, 2):
        project.run("--dj-no-cache", f"--dj-shard={k}/2")
        folders.append(str(project.path / "reports" / f"latest-shard-{k}-of-2"))

    assert main(["merge", *folders, "--report-dir", str(project.path / "m")]) == 0
    merged = _report(project.path / "m")
    # every figure, gate and case is the single run's; the labelled pairs were judged
    # once per shard, so only the calls and tokens differ
    assert merged["rubrics"] == whole["rubrics"]
    gates = {g["name"]: g for g in merged["rubrics"][0]["gates"]}
    assert gates[AGREEMENT]["passed"] and gates[AGREEMENT]["value"] == 1.0


def test_what_collection_found_reaches_the_merged_report(project: Project) -> None:
    project.server.set_rules(_rules())
    rows = [{"id": i, "input": p} for i, p in PROMPTS16.items()]
    project.write(rubric_text(graders=GRADER, extra="training_file: ../data/train.jsonl\n"), rows)
    train = {
        "messages": [
            {"role": "user", "content": "question 3"},
            {"role": "assistant", "content": "a"},
        ]
    }
    (project.path / "data" / "train.jsonl").write_text(json.dumps(train) + "\n", encoding="utf-8")
    folders = []
    for k in (1, 2):
        project.run(f"--dj-shard={k}/2")
        folders.append(str(project.path / "reports" / f"latest-shard-{k}-of-2"))

    assert main(["merge", *folders, "--report-dir", str(project.path / "m")]) == 0
    notes = _report(project.path / "m")["notes"]
    leaked = [n for n in notes if "also appear in the training data" in n]
    assert len(leaked) == 1 and "case case-03" in leaked[0]
