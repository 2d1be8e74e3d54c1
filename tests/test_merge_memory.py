"""``deltajudge merge`` above ``case_items`` (2,500 cases in two chunk items), with the
merged cases left in the shards' files: the merged report.json is the single run's, and
byte for byte what the same merge gives with every case held in memory.

Two recorded models and a python grader answer, so no server is needed and the runs are
quick; the scores vary per case, so every figure and verdict depends on each line read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Project
from deltajudge.cli import main
from deltajudge.generation.recorded import RecordedAnswer, input_hash
from deltajudge.pipeline import Evaluation, merge_shards
from deltajudge.results import CaseResults
from deltajudge.results_file import load_results
from deltajudge.settings import load_settings
from deltajudge.shards import ShardSpill, merged_results

N = 2_500  # above the default case_items (2,000): two chunk items
RUBRIC = """\
name: scale
dataset: ../data/cases.jsonl
models: [base, cand]
graders:
  - name: length
    type: python
    pass_threshold: 2
    source: |
      def grade(sample, item):
          return float(len(sample["output_text"]) % 5)
gates:
  - {metric: mean_delta, grader: length, min: -1}
  - {name: big-lift, metric: mean_delta, grader: length, min: 2}
"""
CONFIG = """\
[models.base]
provider = "recorded"
path = "base.jsonl"

[models.cand]
provider = "recorded"
path = "cand.jsonl"
"""
#: Timing, and the notes: each shard's cost estimate is its own.
VOLATILE = {"created_at", "duration_s", "notes"}


def _write_suite(root: Path) -> None:
    (root / "rubrics").mkdir()
    (root / "data").mkdir()
    (root / "rubrics" / "scale.yaml").write_text(RUBRIC, encoding="utf-8")
    (root / "deltajudge.toml").write_text(CONFIG, encoding="utf-8")
    rows = [json.dumps({"id": f"c{i}", "input": f"customer question {i}"}) for i in range(N)]
    (root / "data" / "cases.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for alias, extra in (("base", ""), ("cand", " Thanks for asking!")):
        lines = []
        for i in range(N):
            messages = [{"role": "user", "content": f"customer question {i}"}]
            answer = f"Answer {i * 7919 % 1013}.{extra[: i % 7]}"
            recorded = RecordedAnswer(
                case_id=f"c{i}",
                input_hash=input_hash(messages),
                sample=0,
                answer=answer,
                alias=alias,
                model=f"{alias}-model",
            )
            lines.append(recorded.to_line())
        (root / f"{alias}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return data


def test_a_merge_above_case_items_equals_the_single_run_with_its_cases_left_on_disk(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One test, as the five runs it needs take most of its time."""
    _write_suite(project.path)
    monkeypatch.chdir(project.path)
    assert project.run("--dj-no-cache").ret == pytest.ExitCode.TESTS_FAILED  # big-lift
    folders = []
    for k in range(1, 5):
        assert project.run("--dj-no-cache", f"--dj-shard={k}/4").ret == 0
        folders.append(project.path / "reports" / f"latest-shard-{k}-of-4")

    _merge_equals_the_single_run(project, folders, capsys)
    _spilled_and_held_cases_report_the_same_bytes(project, folders)
    _a_case_reads_back_after_its_shard_file_is_removed(project, folders)


def _merge_equals_the_single_run(
    project: Project, folders: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    merged_dir = project.path / "reports" / "merged"

    assert main(["merge", *map(str, folders), "--report-dir", str(merged_dir)]) == 1

    assert "gate failed: scale: big-lift" in capsys.readouterr().out
    whole, merged = _report(project.path / "reports" / "latest"), _report(merged_dir)
    assert {k: v for k, v in merged.items() if k not in VOLATILE} == {
        k: v for k, v in whole.items() if k not in VOLATILE
    }
    (rubric,) = merged["rubrics"]
    assert len(rubric["cases"]) == N and rubric["cases_selected"] == N
    assert [c["id"] for c in rubric["cases"]] == [f"c{i}" for i in range(N)]  # data-set order
    scores = {c["samples"]["cand"]["scores"]["length"] for c in rubric["cases"]}
    assert scores == {0.0, 1.0, 2.0, 3.0, 4.0}  # every case's own line was read


def _spilled_and_held_cases_report_the_same_bytes(project: Project, folders: list[Path]) -> None:
    settings = load_settings(project.path)
    spilled = merge_shards(folders, settings, project.path)
    results = merged_results([load_results(f) for f in folders], project.path)
    (run,) = results.rubrics
    assert isinstance(run.cases._spill, ShardSpill)  # one offset per case, nothing held
    assert all(isinstance(place, int) for place in run.cases._places.values())
    run.cases = CaseResults({case_id: run.cases[case_id] for case_id in run.cases})  # held
    held = Evaluation(settings=settings, rootdir=project.path)
    held.collection_notes = list(spilled.collection_notes)
    held.conclude(results)

    one = spilled.write_reports(project.path / "spilled")[0]
    two = held.write_reports(project.path / "held")[0]

    assert one.name == two.name == "report.json"
    assert one.read_bytes() == two.read_bytes()


def _a_case_reads_back_after_its_shard_file_is_removed(
    project: Project, folders: list[Path]
) -> None:
    """The xdist controller removes the workers' folder before it writes the reports."""
    results = merged_results([load_results(f) for f in folders], project.path)
    before = {case_id: r.grades for case_id, r in results.rubrics[0].cases.items()}
    for folder in folders:
        (folder / "results.jsonl").unlink()

    after = {case_id: r.grades for case_id, r in results.rubrics[0].cases.items()}

    assert after == before and len(after) == N


def _shard_lines(project: Project) -> tuple[list[Path], list[list[str]]]:
    from test_shards import _write

    _write(project)
    folders = []
    for k in (1, 2):
        project.run(f"--dj-shard={k}/2")
        folders.append(project.path / "reports" / f"latest-shard-{k}-of-2")
    lines = [(f / "results.jsonl").read_text(encoding="utf-8").splitlines(True) for f in folders]
    return folders, lines


def test_merge_still_names_a_case_twice_a_case_not_selected_and_a_malformed_line(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folders, (one, two) = _shard_lines(project)
    monkeypatch.chdir(project.path)
    out = str(project.path / "m")

    def merged_with(first: list[str], second: list[str]) -> str:
        for folder, lines in zip(folders, (first, second), strict=True):
            (folder / "results.jsonl").write_text("".join(lines), encoding="utf-8")
        assert main(["merge", *map(str, folders), "--report-dir", out]) == 2
        return capsys.readouterr().err

    case_id = json.loads(two[1])["id"]  # a case of shard 2, also written into shard 1
    twice = merged_with(one, [*two[:-1], one[1], two[-1]])
    assert f"rubrics/demo.yaml::{json.loads(one[1])['id']}: evaluated by two shards" in twice
    stray = merged_with([*one[:-1], two[1], one[-1]], two)
    assert f"rubrics/demo.yaml::{case_id} has a result but was not selected" in stray
    broken = json.loads(one[2])
    del broken["samples"]
    malformed = merged_with([one[0], one[1], json.dumps(broken) + "\n", *one[3:]], two)
    assert "results.jsonl:3: malformed case line: KeyError: 'samples'" in malformed
