"""The harness next to a bare AsyncOpenAI loop, on the same job, in the same run.

The job (DESIGN.md's performance bar): N prompts x 2 models, each answer then judged
0-4, so 4N requests against one scripted OpenAI-compatible server (a separate process
on loopback), at concurrency 32, with 0 ms and 200 ms of added latency.

    python benchmarks/bench_engine.py                 # N=1000, both latencies, warm rerun
    python benchmarks/bench_engine.py --n 10000 --latencies 0 --no-warm   # the memory bar

Every figure is one whole process, timed from outside (wall seconds, peak RSS from
wait4), so the harness pays for its own start-up, collection and report writing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tabulate import tabulate

CONCURRENCY = 32
JUDGE_SCRIPT = {"rules": [{"judge": True, "reply": {"json": {"reasoning": "ok", "score": 3}}}]}

RUBRIC = """\
name: bench
dataset: ../cases.jsonl
models: [base, candidate]
graders:
  - name: tone
    type: score_model
    model: judge
    range: [0, 4]
    pass_threshold: 2
    input:
      - role: user
        content: |
          **User input**
          {{ prompt }}
          **Response to evaluate**
          {{ sample.output_text }}
gates:
  - {metric: mean_delta, grader: tone, min: -1}
"""

BARE_LOOP = Path(__file__).with_name("bare_loop.py")


@contextlib.contextmanager
def scripted_server(latency_ms: int, workdir: Path) -> Iterator[str]:
    """The scripted server as its own process (so it does not share the harness's CPU),
    its URL while the block runs, stopped however the block ends."""
    script = workdir / "script.json"
    script.write_text(json.dumps(JUDGE_SCRIPT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deltajudge.testing",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--script",
            str(script),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"scripted server did not start: {line!r}")
    try:
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


#: Both sides run as on a user's machine: with Python's bytecode cache (some sandboxes and
#: CI images set PYTHONDONTWRITEBYTECODE, which recompiles every module at each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, and exit code of one whole process."""
    wall, rss, code, _cpu = timed_cpu(cmd, cwd)
    return wall, rss, code


def timed_cpu(cmd: list[str], cwd: Path) -> tuple[float, float, int, float]:
    """`timed`, and the CPU seconds (user + system) the process used."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode()[-2000:])
    return wall, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


def write_suite(workdir: Path, n: int, url: str) -> None:
    (workdir / "rubrics").mkdir(exist_ok=True)
    (workdir / "rubrics" / "bench.yaml").write_text(RUBRIC)
    with open(workdir / "cases.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"c{i}", "input": f"customer question {i}"}) + "\n")
    models = "\n".join(
        f'[models.{alias}]\nmodel = "{alias}"\nbase_url = "{url}"\n'
        for alias in ("base", "candidate", "judge")
    )
    (workdir / "deltajudge.toml").write_text(f"concurrency = {CONCURRENCY}\n\n{models}")


#: pytest quiet, without the plugins of this repository's dev environment that a user's
#: would not load (its own cache, hypothesis).
PYTEST_QUIET = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]


def harness_cmd(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "rubrics",
        *PYTEST_QUIET,
        "--dj-no-progress",
        "--dj-report-dir",
        "out",
        *extra,
    ]


def bench(n: int, latency_ms: int, warm: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with scripted_server(latency_ms, workdir) as url:
            write_suite(workdir, n, url)
            label = f"{n} prompts, {latency_ms} ms"
            per_1000 = 1000 / (4 * n)  # CPU seconds per 1,000 calls (4N requests)
            for transport in ("httpx", "aiohttp"):
                bare = [sys.executable, str(BARE_LOOP), url, str(n), transport, str(CONCURRENCY)]
                wall, rss, code, cpu = timed_cpu(bare, workdir)
                name = f"bare AsyncOpenAI loop ({transport})"
                rows.append([label, name, wall, rss, cpu * per_1000, code])
            wall, rss, code, cpu = timed_cpu(harness_cmd("--dj-no-cache"), workdir)
            rows.append([label, "deltajudge (aiohttp), no cache", wall, rss, cpu * per_1000, code])
            if warm:
                timed(harness_cmd(), workdir)  # fill the cache
                wall, rss, code, cpu = timed_cpu(harness_cmd(), workdir)
                rows.append([label, "deltajudge, warm rerun from cache", wall, rss, None, code])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latencies", type=int, nargs="+", default=[200, 0])
    parser.add_argument("--no-warm", action="store_true")
    args = parser.parse_args()
    rows = []
    for latency in args.latencies:
        rows += bench(args.n, latency, warm=not args.no_warm and latency == 0)
    for row in rows:
        row[2] = f"{row[2]:.1f}"
        row[3] = f"{row[3]:.0f}"
        row[4] = "" if row[4] is None else f"{row[4]:.2f}"
    headers = ["job", "runner", "wall s", "peak RSS MB", "CPU s / 1,000 calls", "exit"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
