"""Chunk items: a rubric with more cases than ``case_items`` is collected as items of that
many consecutive cases, and everything that works on case items works on them.

End to end against the scripted server, with ``--dj-case-items=3`` on 8 cases: items
``cases[1-3]``, ``cases[4-6]`` and ``cases[7-8]``; cases 2 and 7 fail the case check.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from conftest import (
    Project,
    case_score_rules,
    item_outcomes,
    item_reports,
    prompt_rows,
    rubric_text,
)
from deltajudge.shards import parse_shard

PROMPTS8 = {f"case-{i}": f"question {i}" for i in range(8)}
BASE = [2] * 8
CAND = [3, 1, 3, 3, 3, 3, 1, 3]  # case-1 (line 2) and case-6 (line 7) fail min_score 2
CHECK = "case_check: {min_score: 2}\n"
CHUNKS = ["cases[1-3]", "cases[4-6]", "cases[7-8]"]


def _write(project: Project, prompts: dict[str, str] = PROMPTS8, **scores: list[float]) -> None:
    project.server.set_rules(case_score_rules(prompts, **(scores or {"base": BASE, "cand": CAND})))
    project.write(rubric_text(extra=CHECK), prompt_rows(prompts))


def _case_ids(project: Project, folder: str = "latest") -> list[str]:
    report = json.loads((project.path / "reports" / folder / "report.json").read_text())
    return [c["id"] for c in report["rubrics"][0]["cases"]]


def test_a_big_rubric_is_collected_as_named_chunks_that_fail_listing_their_cases(
    project: Project,
) -> None:
    _write(project)
    result = project.run("--dj-no-cache", "--dj-case-items=3")

    assert item_outcomes(result) == {
        "cases[1-3]": "failed",
        "cases[4-6]": "passed",
        "cases[7-8]": "failed",
    }
    reports = item_reports(result)
    first = str(reports["cases[1-3]"].longrepr)
    assert first.startswith("1 of 3 cases failed")
    assert "FAILED case-1 (" in first and "demo.jsonl:2)" in first
    assert "cand scored 1 on quality, below min_score 2" in first
    assert "prompt:\n    question 1" in first  # shown in full, as a case item shows it
    assert "case-0" not in first and "case-2" not in first  # passed cases are not listed
    assert "FAILED case-6 (" in str(reports["cases[7-8]"].longrepr)
    assert reports["cases[4-6]"].user_properties == []  # report.json has the scores
    assert _case_ids(project) == list(PROMPTS8)  # every case evaluated, in data-set order


def test_a_rubric_at_the_threshold_keeps_one_item_per_case(project: Project) -> None:
    _write(project)
    result = project.run("--dj-no-cache", "--dj-case-items=8")

    assert set(item_outcomes(result)) == set(PROMPTS8)


def test_the_threshold_is_a_config_key_too(project: Project) -> None:
    _write(project)
    project.write_config(extra="case_items = 3")
    result = project.run("--collect-only", "-q")

    result.stdout.fnmatch_lines([f"rubrics/demo.yaml::{name}" for name in CHUNKS])


def test_k_selects_a_chunk_by_its_name(project: Project) -> None:
    _write(project)
    result = project.run("--dj-no-cache", "--dj-case-items=3", "-k", "cases[4-6]")

    assert item_outcomes(result) == {"cases[4-6]": "passed"}
    assert _case_ids(project, "latest-partial") == ["case-3", "case-4", "case-5"]


def test_limit_draws_the_same_cases_with_chunks_as_with_case_items(project: Project) -> None:
    _write(project)
    project.run("--dj-no-cache", "--dj-limit=3")
    drawn = _case_ids(project, "latest-partial")
    result = project.run("--dj-no-cache", "--dj-limit=3", "--dj-case-items=3")

    assert _case_ids(project, "latest-partial") == drawn
    chunks = {CHUNKS[int(i.split("-")[1]) // 3] for i in drawn}
    assert set(item_outcomes(result)) == chunks  # a chunk with no drawn case is deselected


def test_a_shard_keeps_each_chunks_cases_in_it(project: Project) -> None:
    _write(project)
    seen: list[str] = []
    for k in (1, 2):
        shard = parse_shard(f"{k}/2")
        mine = [i for i in PROMPTS8 if shard.holds("demo", i)]
        result = project.run("--dj-no-cache", "--dj-case-items=3", f"--dj-shard={k}/2")
        ids = _case_ids(project, f"latest-shard-{k}-of-2")
        assert ids == mine
        kept = {CHUNKS[int(i.split("-")[1]) // 3] for i in mine}
        assert {n for n in item_outcomes(result) if n.startswith("cases[")} == kept
        seen += ids
    assert sorted(seen) == sorted(PROMPTS8)


def test_x_stops_at_the_first_failed_chunk(project: Project) -> None:
    _write(project)
    result = project.run("-x", "--dj-no-cache", "--dj-case-items=3", "--dj-concurrency=1")

    assert item_outcomes(result) == {"cases[1-3]": "failed"}  # pytest stops there
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert len(_case_ids(project, "latest-partial")) < 8  # the engine stopped too


def test_a_chunk_shows_twenty_failed_cases_then_counts_the_rest(project: Project) -> None:
    prompts = {f"case-{i:02d}": f"question {i}" for i in range(26)}
    _write(project, prompts, base=[2] * 26, cand=[1] * 26)
    result = project.run("--dj-no-cache", "--dj-case-items=25")

    assert item_outcomes(result) == {"cases[1-25]": "failed", "cases[26-26]": "failed"}
    text = str(item_reports(result)["cases[1-25]"].longrepr)
    assert text.startswith("25 of 25 cases failed")
    assert text.count("\nFAILED case-") == 20
    assert "FAILED case-19 (" in text and "FAILED case-20 (" not in text
    assert "... and 5 more failed cases" in text


def test_junit_xml_lists_chunks_with_their_failures(project: Project) -> None:
    _write(project)
    project.run("--dj-no-cache", "--dj-case-items=3", "--junitxml=junit.xml")

    tree = ET.parse(project.path / "junit.xml")
    cases = {c.get("name"): c for c in tree.iter("testcase")}
    assert set(cases) == set(CHUNKS)
    failure = cases["cases[1-3]"].find("failure")
    assert failure is not None and "FAILED case-1 (" in (failure.text or "")
    assert cases["cases[4-6]"].find("failure") is None


def _xdist_outcomes(stdout: str) -> dict[str, Any]:
    outcomes = {}
    for line in stdout.splitlines():
        for word in ("PASSED", "FAILED"):
            if word in line and "::cases[" in line and not line.startswith(word):
                outcomes[line.split("::")[-1].split()[0]] = word
    return outcomes


def test_xdist_runs_chunks_with_each_case_evaluated_once(project: Project) -> None:
    pytest.importorskip("xdist")
    _write(project)
    project.run("--dj-no-cache", "--dj-case-items=3")
    once = project.server.count()

    result = project.run_subprocess("-n", "2", "--dj-no-cache", "--dj-case-items=3", "-v")

    assert project.server.count() - once == once == 32  # 8 cases x (2 answers + 2 judgments)
    assert _xdist_outcomes(result.stdout.str()) == {
        "cases[1-3]": "FAILED",
        "cases[4-6]": "PASSED",
        "cases[7-8]": "FAILED",
    }
    assert _case_ids(project) == list(PROMPTS8)


def test_a_chunk_the_engine_stopped_before_is_skipped_like_its_cases(project: Project) -> None:
    prompts = {f"case-{i:02d}": f"question {i}" for i in range(30)}
    _write(project, prompts, base=[2] * 30, cand=[1, 1] + [3] * 28)
    result = project.run("--maxfail=2", "--dj-no-cache", "--dj-case-items=3", "--dj-concurrency=1")

    outcomes = item_outcomes(result)
    assert outcomes["cases[1-3]"] == "failed"  # case-00 and case-01 stopped the engine
    assert outcomes["cases[28-30]"] == "skipped"
    skipped = str(item_reports(result)["cases[28-30]"].longrepr)
    assert "3 of 3 cases not evaluated: -x/--maxfail stopped the run" in skipped


def test_case_items_below_one_is_refused_before_collection(project: Project) -> None:
    _write(project)
    result = project.run("--dj-case-items=0")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dj-case-items expects a number of cases >= 1 (got 0)*"])
