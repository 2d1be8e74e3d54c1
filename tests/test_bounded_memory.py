"""A big run holds its cases' places, not their results: each finished case is written to
results.jsonl and read back when asked for, report rows are built when read, and
report.json is written row by row with exactly the bytes of pydantic's whole dump."""

from __future__ import annotations

import gc
import json
import os
import weakref
from pathlib import Path

from conftest import Project, judge_json, rubric_text
from deltajudge.judging.types import Sample
from deltajudge.reporting.build import read_json, write_report_json
from deltajudge.reporting.model import Report
from deltajudge.reporting.redacted import redacted
from deltajudge.results import CaseResult, CaseResults
from deltajudge.testing import Rule
from report_factory import make_report

PROMPTS = {f"case-{i}": f"question {i}" for i in range(6)}


def test_report_json_written_row_by_row_is_pydantic_s_own_dump(tmp_path: Path) -> None:
    for report in (make_report(40, candidates=("a", "b")), make_report(12)):
        path = write_report_json(report, tmp_path / "report.json")
        assert path.read_bytes() == report.model_dump_json(indent=2).encode()
        assert read_json(path) == report


def test_a_rubric_without_cases_still_writes_valid_json(tmp_path: Path) -> None:
    report = make_report(12)
    report.rubrics[0].cases = []
    path = write_report_json(report, tmp_path / "report.json")
    assert path.read_bytes() == report.model_dump_json(indent=2).encode()


def test_a_secret_in_one_row_is_masked_in_that_row_only(tmp_path: Path) -> None:
    report = make_report(12)
    key = "sk-test-" + "q" * 30
    os.environ["DJ_TEST_API_KEY"] = key
    try:
        report.rubrics[0].cases[3].samples["base"].output_text = f"my key is {key}"
        text = write_report_json(report, tmp_path / "report.json").read_text()
        masked = redacted(report).rubrics[0].cases[3].samples["base"].output_text
    finally:
        del os.environ["DJ_TEST_API_KEY"]
    assert key not in text
    back = json.loads(text)["rubrics"][0]["cases"]
    assert "my key is" in back[3]["samples"]["base"]["output_text"]
    assert back[4] == json.loads(report.rubrics[0].cases[4].model_dump_json())
    assert key not in masked and masked.startswith("my key is")


class _ListSpill:
    """A spill that keeps JSON text, to check the mapping keeps only places."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.reads = 0

    def write(self, result: CaseResult) -> int:
        self.lines.append(json.dumps([result.case.id, result.samples["m"].output_text]))
        return len(self.lines) - 1

    def read(self, place: int, case: object) -> CaseResult:
        self.reads += 1
        case_id, text = json.loads(self.lines[place])
        assert case is not None and case_id == case.id  # type: ignore[attr-defined]
        return CaseResult(case, {"m": Sample("m", text)}, {})  # type: ignore[arg-type]


def test_spilled_results_keep_places_and_read_back_in_data_set_order(project: Project) -> None:
    project.write(rubric_text(), [{"id": i, "input": p} for i, p in PROMPTS.items()])
    from deltajudge.judging.loading import load_rubric

    loaded = load_rubric(project.path / "rubrics" / "demo.yaml")
    spill = _ListSpill()
    results = CaseResults(spill=spill)
    added = []
    for case in reversed(loaded.cases):
        result = CaseResult(case, {"m": Sample("m", f"answer {case.id}")}, {})
        added.append(weakref.ref(result))
        results.add(result)
    del result
    gc.collect()
    assert all(ref() is None for ref in added)  # nothing of a result stays in memory
    results.ordered(loaded.cases[1:])
    assert list(results) == [c.id for c in loaded.cases[1:]] and spill.reads == 0
    assert results["case-2"].samples["m"].output_text == "answer case-2"
    assert spill.reads == 1
    assert "case-0" not in results


def test_a_run_s_cases_live_in_results_jsonl_and_its_report_is_whole(project: Project) -> None:
    rows = [{"id": i, "input": p} for i, p in PROMPTS.items()]
    project.server.set_rules(
        [Rule(judge=True, contains=p, reply=judge_json(2)) for p in PROMPTS.values()]
    )
    project.write(rubric_text(), rows)
    result = project.run()
    result.assert_outcomes(passed=len(PROMPTS))
    report = Report.model_validate_json((project.path / "reports/latest/report.json").read_text())
    cases = report.rubrics[0].cases
    assert [c.id for c in cases] == list(PROMPTS)
    assert all(c.verdict is not None and c.verdict.passed for c in cases)
    assert cases[0].samples["cand"].scores == {"quality": 2.0}
    lines = (project.path / "reports/latest/results.jsonl").read_text().splitlines()
    assert len(lines) == len(PROMPTS) + 2  # header, a line per case, trailer
