"""Failing endpoints, for real: bad bodies, a quota of concurrent requests, an endpoint that
is unreachable or rejects the key. Every run finishes, writes its report, and says once
what went wrong; the scripted server counts what it really received.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import QUIET_PLUGINS, Project, judge_json
from deltajudge.errors import CallError, EndpointDown
from deltajudge.generation.health import AdaptiveLimit, Breaker, call_with_retries
from deltajudge.interrupt import STOP_GRACE_S
from deltajudge.testing import Reply, Rule, ScriptedServer

BAD_BODIES = [
    Reply(raw="this is not json"),
    Reply(raw="<html><body>502 Bad Gateway</body></html>", raw_type="text/html"),
    Reply(raw='{"unexpected": "shape"}'),
    Reply(raw=""),
]


def _rows(n: int) -> list[dict[str, str]]:
    return [{"id": f"q{i}", "input": f"question {i}"} for i in range(n)]


def _judge_all(score: float = 2) -> list[Rule]:
    return [Rule(judge=True, reply=judge_json(score))]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


# -- bad 200s from the model under test ------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_BODIES, ids=["not-json", "html", "wrong-shape", "empty"])
def test_a_bad_body_is_retried_and_the_run_completes(project: Project, bad: Reply) -> None:
    once = Reply(raw=bad.raw, raw_type=bad.raw_type, times=1)
    project.server.set_rules([Rule(model="cand-m", reply=once), *_judge_all()])
    project.write(rows=_rows(3))

    result = project.run()

    assert result.ret == 0, result.stdout.str()[-2000:]
    rubric = project.rubric_report()
    assert all(c["samples"]["cand"]["error"] is None for c in rubric["cases"])
    generations = [r for r in project.requests(judge=False) if r.model == "cand-m"]
    assert len(generations) == 4  # three answers, one of them asked twice


def test_a_body_that_stays_bad_is_an_error_on_its_case_only(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", contains="question 1", reply=Reply(raw="<html>oops</html>")),
            *_judge_all(),
        ]
    )
    project.write(rows=_rows(3))

    result = project.run()

    assert result.ret == 1
    cases = {c["id"]: c for c in project.rubric_report()["cases"]}
    error = cases["q1"]["samples"]["cand"]["error"]
    assert error is not None and "unusable response from cand-m" in error
    assert cases["q0"]["samples"]["cand"]["error"] is None
    assert cases["q2"]["samples"]["cand"]["error"] is None


# -- rate limits slow a run down instead of failing it -----------------------------------------


def test_a_quota_of_8_at_concurrency_32_fails_no_call(pytester: pytest.Pytester) -> None:
    with ScriptedServer(_judge_all(), latency_s=0.05, max_concurrent=8) as server:
        project = Project(pytester, server)
        project.write(rows=_rows(60), config_extra="concurrency = 32")

        result = project.run()

        assert result.ret == 0, result.stdout.str()[-2000:]
        report = project.report()
    errors = [s["error"] for c in report["rubrics"][0]["cases"] for s in c["samples"].values()]
    assert errors == [None] * 120
    throttled = [n for n in report["notes"] if "rate-limit answers (429)" in n]
    assert len(throttled) == 1 and "went from 32 down to" in throttled[0]


# -- endpoints that cannot answer end the run in seconds, said once ---------------------------


def test_an_unreachable_endpoint_ends_the_run_in_seconds(project: Project) -> None:
    project.server.set_rules(_judge_all())
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    project.write(rows=_rows(80), models={"cand": {"base_url": dead}})

    started = time.monotonic()
    result = project.run()
    took = time.monotonic() - started

    assert result.ret == 1
    assert took < 20, f"took {took:.1f} s"
    report = project.report()
    down = [n for n in report["notes"] if "went down" in n]
    assert len(down) == 1 and dead in down[0] and "cannot reach" in down[0]
    errors = [c["samples"]["cand"]["error"] for c in report["rubrics"][0]["cases"]]
    assert all(e is not None for e in errors)
    assert sum("is down" in e for e in errors if e) >= 60  # most never tried at all
    assert all(c["samples"]["base"]["error"] is None for c in report["rubrics"][0]["cases"])


def test_a_hung_endpoint_ends_the_run_within_its_timeout_and_a_little(project: Project) -> None:
    project.server.set_rules([Rule(model="cand-m", reply=Reply(delay_s=30)), *_judge_all()])
    project.write(rows=_rows(50), config_extra="timeout_s = 1")

    started = time.monotonic()
    result = project.run()
    took = time.monotonic() - started

    assert result.ret == 1
    assert took < 15, f"took {took:.1f} s"  # one round of 1 s timeouts, then down
    notes = project.report()["notes"]
    assert any("went down" in n and "timed out" in n for n in notes)


def test_a_rejected_key_stops_calling_the_endpoint(pytester: pytest.Pytester) -> None:
    rules = [Rule(model="cand-m", reply=Reply(status=401, text="Incorrect API key provided"))]
    with ScriptedServer([*rules, *_judge_all()]) as server:
        project = Project(pytester, server)
        project.write(rows=_rows(100), config_extra="concurrency = 4")

        result = project.run()

        assert result.ret == 1
        sent = [r for r in server.requests if r.model == "cand-m"]
        notes = project.report()["notes"]
    assert len(sent) <= 8, f"{len(sent)} requests after the first 401"
    assert any("went down" in n and "HTTP 401" in n for n in notes)


# -- the parts, alone ---------------------------------------------------------------------------


async def test_the_limit_halves_on_429_and_climbs_back() -> None:
    limit = AdaptiveLimit(16)
    limit.throttled()
    limit.throttled()  # the same burst: one cut
    assert limit.limit == 8 and limit.lowest == 8 and limit.throttles == 2
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 16


async def test_a_waiter_cancelled_while_queued_gives_no_slot_away() -> None:
    limit = AdaptiveLimit(1)
    async with limit:
        waiter = asyncio.ensure_future(limit.__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with limit:  # the slot came back: this does not hang
        pass


async def test_marking_down_ends_calls_in_flight_at_once() -> None:
    breaker = Breaker("http://x/v1")
    limit = AdaptiveLimit(4)

    async def hang() -> str:
        await asyncio.sleep(60)
        return "never"

    calls = [
        asyncio.ensure_future(
            call_with_retries(
                hang, limit=limit, breaker=breaker, max_retries=3, on_attempt=lambda: None
            )
        )
        for _ in range(3)
    ]
    await asyncio.sleep(0.01)
    breaker.mark_down("the server died: SIGILL")
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 1)
    assert all(isinstance(r, EndpointDown) and "SIGILL" in str(r) for r in results)


async def test_retries_wait_and_count_every_attempt() -> None:
    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise CallError("HTTP 503", transient=True, retry_after=0.05)
        return "fine"

    result = await call_with_retries(
        flaky,
        limit=AdaptiveLimit(2),
        breaker=Breaker("u"),
        max_retries=4,
        on_attempt=lambda: None,
    )
    assert result == "fine" and len(attempts) == 3
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(0.05 <= gap < 0.2 for gap in gaps), gaps  # Retry-After times [1, 1.5)


def test_shared_url_limit_does_not_depend_on_who_asks_first(project: Project) -> None:
    from deltajudge.generation.endpoints import Endpoints
    from deltajudge.settings import ModelConfig, Settings

    slow = ModelConfig(model="a", base_url=project.server.url, concurrency=2)
    fast = ModelConfig(model="b", base_url=project.server.url, concurrency=64)

    async def ceilings(order: list[ModelConfig]) -> list[int]:
        endpoints = Endpoints(Settings())
        try:
            return [endpoints.for_model(c, [slow, fast]).limit.ceiling for c in order]
        finally:
            await endpoints.aclose()

    assert asyncio.run(ceilings([slow, fast])) == [64, 64]
    assert asyncio.run(ceilings([fast, slow])) == [64, 64]


# -- Ctrl-C and SIGTERM ----------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_writes_an_incomplete_report_and_exits_quickly(
    project: Project, sig: signal.Signals, code: int
) -> None:
    project.server.set_rules([Rule(model="cand-m", reply=Reply(delay_s=0.5)), *_judge_all()])
    project.write(rows=_rows(200), config_extra="concurrency = 4")
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "rubrics", "-q", *QUIET_PLUGINS, "--dj-no-progress"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not project.requests():
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
        while len(project.requests()) < 8:  # the run is under way
            time.sleep(0.02)
        session.send_signal(sig)
        sent = time.monotonic()
        seen, last_new = len(project.requests()), sent
        while session.poll() is None and time.monotonic() - sent < 30:
            if (count := len(project.requests())) > seen:
                seen, last_new = count, time.monotonic()
            time.sleep(0.02)
        output, _ = session.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if session.poll() is None:
            session.kill()
            session.wait(timeout=10)
    text = output.decode(errors="replace")
    assert session.returncode == code, text[-3000:]
    report = project.report()
    assert last_new - sent < STOP_GRACE_S + 0.5, "requests were still sent after the grace"
    # about 3 s in all on an idle machine (README); room here for a loaded CI machine
    assert took < 30, f"{took:.1f} s from the signal to the exit"
    assert "Task exception was never retrieved" not in text and "client has been closed" not in text
    assert text.count(f"{sig.name} received") == 1
    note = report["notes"][0]
    assert note.startswith(f"INCOMPLETE: interrupted by {sig.name}") and "not run" in note
    assert "demo::q199" in note or "more" in note
