"""The baseline read row by row: a report.json in the layout deltajudge writes keeps its
case rows on disk (`SavedRows`), the gate parses only the rows of changed cases, and
decides exactly what it decides with the whole report in memory; a report in any other
layout (re-indented, edited by hand) still loads, whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff

from deltajudge.gating.baseline import baseline_verdict, case_digest, compare_rubric
from deltajudge.reporting.build import write_report_json
from deltajudge.reporting.compare import load_baseline, load_report
from deltajudge.reporting.model import CaseEntry, Report, RubricEntry
from deltajudge.reporting.redacted import without_cases
from deltajudge.reporting.saved_report import SavedRows, read_saved_report
from report_factory import make_report

N = 60


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Report, Path]:
    """A two-candidate report with errors and hostile strings, as report.json."""
    report = make_report(N, candidates=("candidate", "sft"))
    return report, write_report_json(report, tmp_path / "report.json")


def test_a_written_report_reads_back_with_its_rows_left_in_the_file(
    saved: tuple[Report, Path],
) -> None:
    report, path = saved
    whole = load_report(path)

    found = read_saved_report(path, case_digest)

    assert found is not None
    (rubric,) = found.rubrics
    assert isinstance(rubric.cases, SavedRows) and len(rubric.cases) == N
    assert without_cases(found) == without_cases(whole)  # every figure and gate
    assert list(rubric.cases) == list(whole.rubrics[0].cases) == list(report.rubrics[0].cases)
    assert rubric.cases[-1] == whole.rubrics[0].cases[-1]
    assert rubric.cases.digest(3) == case_digest(whole.rubrics[0].cases[3])
    assert isinstance(load_baseline(path).rubrics[0].cases, SavedRows)


@pytest.mark.parametrize("layout", ["indent-4", "one-line", "a-row-on-one-line"])
def test_a_report_in_another_layout_still_loads_whole(
    saved: tuple[Report, Path], layout: str
) -> None:
    _, path = saved
    whole = load_report(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if layout == "indent-4":
        text = json.dumps(data, indent=4, ensure_ascii=False)
    elif layout == "one-line":
        text = json.dumps(data, ensure_ascii=False)
    else:
        text = path.read_text(encoding="utf-8")
        row = json.dumps(data["rubrics"][0]["cases"][1], ensure_ascii=False)
        start = text.index('        {\n          "id": "' + data["rubrics"][0]["cases"][1]["id"])
        end = text.index("\n        }", start) + len("\n        }")
        text = text[:start] + "        " + row + text[end:]
        assert json.loads(text) == data
    path.write_text(text, encoding="utf-8")

    assert read_saved_report(path, case_digest) is None
    again = load_baseline(path)
    assert not isinstance(again.rubrics[0].cases, SavedRows)
    assert again == whole


def _changed(old: RubricEntry) -> RubricEntry:
    """``old`` with two scores lowered, one answer reworded, one case gone, one new."""
    cases = [c.model_copy(deep=True) for c in old.cases]
    cases[2].samples["candidate"].scores["tone"] = 0.0
    cases[7].samples["sft"].scores["helpfulness"] = None
    cases[9].samples["candidate"].output_text += " (reworded)"
    added = cases[4].model_copy(update={"id": "brand-new"})
    del cases[4]
    return old.model_copy(update={"cases": [*cases, added]})


def _deepdiff_of_everything(old: RubricEntry, new: RubricEntry) -> dict[str, list[str]]:
    """What the gate listed before it streamed the rows: one deepdiff of every case."""

    def view(rubric: RubricEntry) -> dict[str, Any]:
        return {
            c.id: {
                a: {"scores": dict(s.scores), "output": s.output_text} for a, s in c.samples.items()
            }
            for c in rubric.cases
        }

    found: dict[str, list[str]] = {"added": [], "removed": [], "scores": [], "outputs": []}
    for kind, nodes in DeepDiff(view(old), view(new), view="tree").items():
        for node in nodes:
            path = node.path(output_format="list")
            if kind == "dictionary_item_added" and len(path) == 1:
                found["added"].append(str(path[0]))
            elif kind == "dictionary_item_removed" and len(path) == 1:
                found["removed"].append(str(path[0]))
            elif len(path) >= 3 and path[2] == "output":
                found["outputs"].append(f"{path[0]} / {path[1]}")
            elif len(path) >= 4 and path[2] == "scores":
                found["scores"].append(f"{path[0]} / {path[1]} / {path[3]}: {node.t1} -> {node.t2}")
    return found


def test_the_gate_reads_only_changed_rows_and_decides_as_with_the_whole_report(
    saved: tuple[Report, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = saved
    whole = load_report(path)
    new = _changed(whole.rubrics[0])
    streamed = load_baseline(path)
    parsed: list[int] = []
    row = SavedRows._row

    def counted(self: SavedRows, index: int) -> CaseEntry:
        parsed.append(index)
        return row(self, index)

    monkeypatch.setattr(SavedRows, "_row", counted)

    verdict = baseline_verdict(streamed, new, 0.1)

    assert sorted(parsed) == [2, 7, 9]  # the three changed cases, nothing else
    assert verdict == baseline_verdict(whole, new, 0.1)
    assert "worst cases (1 case fell):" in verdict[1]
    changes = compare_rubric(whole.rubrics[0], new)
    before = _deepdiff_of_everything(whole.rubrics[0], new)
    assert changes.cases_added == before["added"] == ["brand-new"]
    assert changes.cases_removed == before["removed"] == [whole.rubrics[0].cases[4].id]
    assert sorted(changes.scores_changed) == sorted(before["scores"]) and len(before["scores"]) == 2
    assert changes.outputs_changed == before["outputs"] and len(before["outputs"]) == 1
