"""The answer cache: the SQLite store itself, then what it means for runs through pytest —
reruns cost nothing, editing a grader re-judges only, errors are asked again, an interrupted
run repeats no finished call."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import QUIET_PLUGINS, Project, rubric_text, scores_by_marker
from deltajudge.generation.cache import ResponseCache
from deltajudge.generation.request import CallResult, Usage, cache_key
from deltajudge.testing import RecordedRequest, Reply, Rule

SCORES = scores_by_marker({"[base-m]": 1, "[cand-m]": 3})


# -- the store --------------------------------------------------------------------------------


def test_answers_round_trip_and_are_marked_cached(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "nested" / "dir")
    fresh = CallResult("Hello!", Usage(12, 3), top_logprobs=({"Hi": -0.1, "Hello": -2.3},))

    assert cache.get("generations", "k1") is None
    cache.put("generations", "k1", fresh)
    replayed = cache.get("generations", "k1")

    assert replayed == CallResult("Hello!", Usage(12, 3), ({"Hi": -0.1, "Hello": -2.3},), True)
    assert not fresh.cached
    assert (cache.hits, cache.writes) == (1, 1)
    assert cache.path == tmp_path / "nested" / "dir" / "cache.sqlite3"


def test_generations_and_judgments_are_separate_tables(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    cache.put("judgments", "same-key", CallResult('{"score": 3}', Usage()))

    assert cache.get("generations", "same-key") is None
    assert cache.get("judgments", "same-key") is not None


def test_answers_survive_a_reopen_and_a_rewrite_replaces(tmp_path: Path) -> None:
    first = ResponseCache(tmp_path)
    first.put("generations", "k", CallResult("old", Usage(1, 1)))
    first.put("generations", "k", CallResult("new", Usage(2, 2)))
    first.close()

    again = ResponseCache(tmp_path)

    assert again.get("generations", "k") == CallResult("new", Usage(2, 2), cached=True)
    again.close()


def test_opening_a_cache_another_process_is_writing_waits_instead_of_failing(
    tmp_path: Path,
) -> None:
    """Two xdist workers opening one cache: while one holds the write lock, the other's
    switch to WAL is a lock upgrade SQLite refuses at once ("database is locked", no busy
    wait). The cache tries again until the writer is done."""
    path = tmp_path / "cache.sqlite3"
    with sqlite3.connect(path) as first:  # a cache file in SQLite's default journal mode
        first.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, value TEXT, created REAL)")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    done = threading.Timer(0.4, lambda: writer.execute("COMMIT"))
    done.start()
    started = time.monotonic()
    try:
        cache = ResponseCache(tmp_path)
    finally:
        done.join()
        writer.close()
    assert time.monotonic() - started >= 0.3  # it waited for the writer
    cache.put("generations", "k", CallResult("kept", Usage()))
    assert cache.get("generations", "k") == CallResult("kept", Usage(), cached=True)
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    cache.close()


def test_cache_keys_follow_everything_that_decides_the_answer() -> None:
    payload: dict[str, Any] = {"params": {"temperature": 0}, "messages": [{"role": "user"}]}
    key = cache_key("http://h/v1", "chat", "m", payload)

    assert key == cache_key("http://h/v1", "chat", "m", dict(reversed(payload.items())))
    assert len(key) == 64
    others = {
        cache_key("http://other/v1", "chat", "m", payload),
        cache_key("http://h/v1", "responses", "m", payload),
        cache_key("http://h/v1", "chat", "m2", payload),
        cache_key("http://h/v1", "chat", "m", {**payload, "params": {"temperature": 1}}),
        cache_key("http://h/v1", "chat", "m", {**payload, "tag": "grader-v2"}),
    }
    assert key not in others and len(others) == 5


# -- runs through pytest --------------------------------------------------------------------


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    (rubric,) = report["rubrics"]
    return {
        "models": rubric["models"],
        "comparisons": rubric["comparisons"],
        "cases": {
            c["id"]: {a: s["scores"] for a, s in c["samples"].items()} for c in rubric["cases"]
        },
        "gates": rubric["gates"],
    }


def _since(project: Project, count: int) -> list[RecordedRequest]:
    return project.server.requests[count:]


def test_a_second_run_makes_no_request_and_reports_the_same(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write(rubric_text(gates="  - metric: mean_delta\n    grader: quality\n    min: 1\n"))
    project.run().assert_outcomes(passed=4)
    first = project.report()
    assert project.server.count() == 12 and first["calls"] == 12
    assert project.cache_rows() == {"generations": 6, "judgments": 6}

    result = project.run()

    result.assert_outcomes(passed=4)
    assert project.server.count() == 12  # unchanged
    second = project.report()
    assert (second["calls"], second["cache_hits"]) == (0, 12)
    assert _scores(second) == _scores(first)
    assert second["models"]["cand"]["tokens"]["cached_calls"] == 3
    assert second["models"]["judge"]["tokens"]["calls"] == 0
    assert all(s["cached"] for c in second["rubrics"][0]["cases"] for s in c["samples"].values())
    result.stdout.fnmatch_lines(["*0 model calls, 12 from cache*"])


def test_editing_a_grader_rejudges_without_regenerating(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write()
    project.run().assert_outcomes(passed=3)
    before = project.server.count()

    rubric = project.path / "rubrics" / "demo.yaml"
    rubric.write_text(
        rubric.read_text().replace("You grade answers.", "You grade answers strictly.")
    )
    project.run().assert_outcomes(passed=3)

    again = _since(project, before)
    assert [r for r in again if not r.judge] == []
    assert len(again) == 6 and all(r.judge for r in again)
    assert all("You grade answers strictly." in r.text for r in again)
    assert project.cache_rows() == {"generations": 6, "judgments": 12}


def test_editing_a_gate_or_the_rubric_name_asks_nothing(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write()
    project.run().assert_outcomes(passed=3)
    before = project.server.count()

    gates = "  - metric: mean_delta\n    grader: quality\n    min: 5\n"
    project.write_rubric(rubric_text(name="renamed", gates=gates))
    result = project.run()

    result.assert_outcomes(passed=3, failed=1)  # the new gate fails on cached scores
    assert project.server.count() == before


def test_changing_one_alias_model_regenerates_only_that_alias(project: Project) -> None:
    project.server.set_rules([*SCORES, *scores_by_marker({"[cand-v2]": 4})])
    project.write()
    project.run().assert_outcomes(passed=3)
    before = project.server.count()

    project.run("--dj-model", "cand=cand-v2").assert_outcomes(passed=3)

    again = _since(project, before)
    assert sorted(r.model or "" for r in again if not r.judge) == ["cand-v2"] * 3
    assert len([r for r in again if r.judge]) == 3  # only the new answers are judged


def test_no_cache_asks_again_and_keeps_nothing(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write()

    project.run("--dj-no-cache").assert_outcomes(passed=3)
    assert not (project.path / ".deltajudge").exists()
    project.run().assert_outcomes(passed=3)
    project.run("--dj-no-cache").assert_outcomes(passed=3)

    assert project.server.count() == 36
    assert project.report()["cache_hits"] == 0


def test_offline_replays_a_full_cache_without_a_request(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write()
    project.run().assert_outcomes(passed=3)
    first = project.report()

    result = project.run("--dj-offline")

    result.assert_outcomes(passed=3)
    assert project.server.count() == 12
    second = project.report()
    assert second["offline"] is True
    assert _scores(second) == _scores(first)


def test_offline_with_an_empty_cache_fails_each_case_clearly(project: Project) -> None:
    project.server.set_rules(SCORES)
    project.write()

    result = project.run("--dj-offline")

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*base: --dj-offline: no cached answer for base (base-m)*"])
    assert project.server.requests == []


def test_offline_and_no_cache_together_are_a_usage_error(project: Project) -> None:
    project.write()

    result = project.run("--dj-offline", "--dj-no-cache")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--dj-offline replays from the cache, so it cannot go with --dj-no-cache" in (
        result.stderr.str()
    )


def test_errors_are_not_cached(project: Project) -> None:
    project.server.set_rules(
        [Rule(judge=True, reply=Reply(status=500, text="boom", times=1)), *SCORES]
    )
    project.write()

    first = project.run("--dj-set", "max_retries=0")

    first.assert_outcomes(passed=2, failed=1)
    first.stdout.fnmatch_lines(["*judge call failed: HTTP 500 from judge-m: boom*"])
    assert project.cache_rows() == {"generations": 6, "judgments": 5}
    assert project.server.count() == 12
    failed_case = next(c for c in project.rubric_report()["cases"] if c["errors"])

    second = project.run("--dj-set", "max_retries=0")

    second.assert_outcomes(passed=3)
    (asked,) = _since(project, 12)
    assert asked.judge
    assert failed_case["prompt"] in asked.text
    assert project.cache_rows() == {"generations": 6, "judgments": 6}


def test_unusable_judge_answers_are_not_cached(project: Project) -> None:
    project.server.set_rules(
        [Rule(judge=True, contains="[cand-m] question one", reply=Reply(text="no idea")), *SCORES]
    )
    project.write()
    project.run().assert_outcomes(passed=2, failed=1)
    assert project.cache_rows() == {"generations": 6, "judgments": 5}
    before = project.server.count()

    project.server.set_rules(SCORES)
    project.run().assert_outcomes(passed=3)

    assert len(_since(project, before)) == 1


def test_api_keys_reach_the_server_but_never_the_cache_or_report(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-deltajudge-test-secret-4242"
    monkeypatch.setenv("DJ_TEST_KEY", secret)
    project.server.set_rules(SCORES)
    project.write(
        models={alias: {"api_key_env": "DJ_TEST_KEY"} for alias in ("base", "cand", "judge")}
    )

    project.run().assert_outcomes(passed=3)

    assert {r.headers["authorization"] for r in project.server.requests} == {f"Bearer {secret}"}
    for path in [*(project.path / ".deltajudge").iterdir(), *(project.path / "reports").rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


# -- an interrupted run ---------------------------------------------------------------------


def test_a_killed_run_resumes_without_repeating_a_finished_call(project: Project) -> None:
    prompts = {f"case-{n}": f"question {n}" for n in range(1, 7)}
    rows = [{"id": case_id, "input": text} for case_id, text in prompts.items()]
    project.server.set_rules(SCORES)
    project.server.latency_s = 0.3
    project.write(rows=rows)
    total = len(prompts) * 4  # two answers per case, each judged once
    args = [*QUIET_PLUGINS, "--dj-no-progress", "--dj-set", "concurrency=2"]
    log = (project.path / "run1.log").open("wb")
    run1 = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=project.path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while project.server.count() < 6 and run1.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run1.poll() is None, "run 1 ended before it could be interrupted"
        run1.send_signal(signal.SIGKILL)
    finally:
        run1.wait(10)
        log.close()
    received = project.server.requests
    cached = sum(project.cache_rows().values())
    # With 2 in flight, a 6th request means at least 4 had finished (and were written).
    assert 4 <= cached < total
    assert not (project.path / "reports" / "latest" / "report.json").exists()

    project.server.latency_s = 0
    result = project.run("--dj-set", "concurrency=2")

    result.assert_outcomes(passed=len(prompts))
    rerun = _since(project, len(received))
    assert len(rerun) == total - cached
    bodies = [json.dumps(r.body, sort_keys=True) for r in rerun]
    assert len(set(bodies)) == len(bodies)  # nothing asked twice in the rerun
    every = {json.dumps(r.body, sort_keys=True) for r in project.server.requests}
    assert len(every) == total  # and together the two runs asked each call once or twice
    assert project.report()["cache_hits"] == cached


FIGURES_PROBE = """
import sys


def pytest_sessionfinish(session):
    print("scipy imported:", "scipy.stats" in sys.modules)
"""


def test_a_rerun_with_the_same_scores_replays_the_figures_without_scipy(
    project: Project,
) -> None:
    """The statistics and gates are cached with the answers: a rerun that scores exactly
    the same neither imports scipy nor bootstraps again, and reports the same figures."""
    project.server.set_rules(SCORES)
    gate = "  - metric: mean_delta\n    grader: quality\n    min: {min}\n"
    project.write(rubric_text(gates=gate.format(min=1)))
    (project.path / "conftest.py").write_text(FIGURES_PROBE)
    first = project.run_subprocess()
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(["*scipy imported: True"])
    computed = _scores(project.report())
    assert _figure_rows(project) == 1

    second = project.run_subprocess()
    second.assert_outcomes(passed=4)
    second.stdout.fnmatch_lines(["*scipy imported: False"])
    assert _scores(project.report()) == computed

    # A changed gate is a changed rubric file: the figures are computed again.
    project.write_rubric(rubric_text(gates=gate.format(min=3)))
    third = project.run_subprocess()
    third.assert_outcomes(passed=3, failed=1)
    third.stdout.fnmatch_lines(["*scipy imported: True"])
    assert _figure_rows(project) == 2


def _figure_rows(project: Project) -> int:
    with sqlite3.connect(project.path / ".deltajudge" / "cache.sqlite3") as db:
        count: int = db.execute("SELECT COUNT(*) FROM figures").fetchone()[0]
    return count
