"""Failing endpoints at scale: the bench suite (N prompts x 2 models, each answer judged)
against a scripted server that misbehaves, each run one whole pytest process.

    python benchmarks/bench_reliability.py            # N=1000
    python benchmarks/bench_reliability.py --n 300

Scenarios: 10% of the candidate's and the judge's first answers are faults (an HTML page,
invalid JSON, the wrong JSON shape, an empty body, HTTP 500, HTTP 429 with Retry-After),
each once, so every case can succeed on a retry; a server that allows 8 requests at a
time, run at concurrency 32; a candidate whose endpoint refuses connections; and a run
SIGKILLed 20 times at random moments, then rerun to the end: the cache must pass SQLite's
integrity check after every kill, and the rerun must send exactly the calls not yet cached
(a finished call is never paid twice; only calls in flight at a kill are sent again).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench_engine import CONCURRENCY, ENV, harness_cmd, write_suite
from deltajudge.testing import Reply, Rule, ScriptedServer

JUDGE = Rule(judge=True, reply=Reply(json={"reasoning": "ok", "score": 3}))
FAULTS = [
    Reply(raw="<html><body>502 Bad Gateway</body></html>", raw_type="text/html", times=1),
    Reply(raw="this is not json", times=1),
    Reply(raw='{"unexpected": "shape"}', times=1),
    Reply(raw="", times=1),
    Reply(status=500, text="scripted outage", times=1),
    Reply(status=429, text="slow down", retry_after=0.2, times=1),
]


def prompt(i: int) -> str:
    return f"customer question {i:06d}"  # zero-padded: no prompt contains another


def fault_rules(n: int) -> list[Rule]:
    """One fault for every tenth case, for the candidate and for the judge of its answer."""
    rules = []
    for i in range(0, n, 10):
        fault = FAULTS[(i // 10) % len(FAULTS)]
        rules.append(Rule(model="candidate", judge=False, contains=prompt(i), reply=fault))
        rules.append(Rule(judge=True, contains=f"[candidate] {prompt(i)}", reply=fault))
    return [*rules, JUDGE]


def run_suite(workdir: Path, *extra: str) -> tuple[float, int, dict[str, Any]]:
    """One whole run (``extra``: more options, e.g. ``--dj-no-cache``) and its report."""
    started = time.perf_counter()
    done = subprocess.run(
        harness_cmd(*extra),
        cwd=workdir,
        env=ENV,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    report_path = workdir / "out" / "report.json"  # harness_cmd's --dj-report-dir
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return wall, done.returncode, report


def errors_in(report: dict[str, Any]) -> int:
    cases = report.get("rubrics", [{}])[0].get("cases", [])
    return sum(bool(s.get("error")) for c in cases for s in c["samples"].values())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def scenario(
    label: str, n: int, server: ScriptedServer, concurrency: int, dead_candidate: bool = False
) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_suite(workdir, n, server.url)
        rows = [json.dumps({"id": f"c{i}", "input": prompt(i)}) for i in range(n)]
        (workdir / "cases.jsonl").write_text("\n".join(rows) + "\n")
        if dead_candidate:
            config = (workdir / "deltajudge.toml").read_text()
            dead = f"http://127.0.0.1:{closed_port()}/v1"
            head, _, tail = config.partition("[models.candidate]")
            tail = tail.replace(server.url, dead, 1)
            config = head + "[models.candidate]" + tail
            (workdir / "deltajudge.toml").write_text(config)
        text = (workdir / "deltajudge.toml").read_text()
        (workdir / "deltajudge.toml").write_text(
            text.replace(f"concurrency = {CONCURRENCY}", f"concurrency = {concurrency}")
        )
        wall, code, report = run_suite(workdir, "--dj-no-cache")
    written = "yes" if report else "NO"
    notes = len([n for n in report.get("notes", []) if "endpoint" in n])
    calls = report.get("calls", 0)
    return [label, f"{wall:.1f}", code, written, errors_in(report), calls, notes]


def cached_calls(workdir: Path) -> tuple[int, str]:
    """Rows in the answer cache, and SQLite's verdict on the file (``ok``)."""
    path = workdir / ".deltajudge" / "cache.sqlite3"
    if not path.exists():
        return 0, "ok"
    with sqlite3.connect(path) as db:
        check = str(db.execute("PRAGMA integrity_check").fetchone()[0])
        rows = sum(
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("generations", "judgments")
        )
    return rows, check


def kill_loop(n: int, kills: int) -> list[object]:
    """SIGKILL the run at random moments, then let a rerun finish: how many requests the
    kills cost, and whether the final rerun asked for anything already cached."""
    chooser = random.Random(7)
    with ScriptedServer([JUDGE], latency_s=0.02) as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_suite(workdir, n, server.url)
        checks: set[str] = set()
        killed = 0
        for _ in range(kills):
            sent = len(server.requests)
            proc = subprocess.Popen(
                harness_cmd(),
                cwd=workdir,
                env=ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill mid-run: once this run's requests have begun, at a random moment after.
            deadline = time.monotonic() + 60
            while len(server.requests) == sent and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            try:
                proc.wait(timeout=chooser.uniform(0.0, 1.5))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
            checks.add(cached_calls(workdir)[1])
        before = len(server.requests)
        missing = 4 * n - cached_calls(workdir)[0]
        wall, code, report = run_suite(workdir)  # with the cache the kills left
        last = len(server.requests) - before
        _, check = cached_calls(workdir)
        checks.add(check)
    extra = len(server.requests) - 4 * n
    return [
        f"{n} cases, {killed} SIGKILLs, rerun",
        f"{wall:.1f}",
        code,
        "yes" if report else "NO",
        errors_in(report),
        f"rerun sent {last} for {missing} uncached; {extra} re-sent in all",
        "integrity " + ",".join(sorted(checks)),
        len(server.requests),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--only-kills", action="store_true", help="only the SIGKILL loop")
    args = parser.parse_args()
    n = args.n
    rows: list[list[object]] = []
    if not args.only_kills:
        rows += other_scenarios(n)
    rows.append(kill_loop(n, args.kills))
    headers = ["scenario", "wall s", "exit", "report", "errors", "calls", "notes", "received"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


def other_scenarios(n: int) -> list[list[object]]:
    """Faulty bodies, a quota, an unreachable endpoint: each row ends with what the
    server received."""
    rows: list[list[object]] = []
    with ScriptedServer(fault_rules(n)) as server:
        rows.append(scenario(f"{n} cases, 10% faults, C=32", n, server, 32))
        received = len(server.requests)
    rows[-1].append(received)
    with ScriptedServer([JUDGE], latency_s=0.05, max_concurrent=8) as server:
        rows.append(scenario(f"{n // 3} cases, 8-slot quota, C=32", n // 3, server, 32))
        rows[-1].append(len(server.requests))
    with ScriptedServer([JUDGE]) as server:
        rows.append(scenario(f"{n} cases, candidate unreachable", n, server, 32, True))
        rows[-1].append(len(server.requests))
    return rows


if __name__ == "__main__":
    main()
