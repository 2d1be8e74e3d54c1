"""The fixed cost of a run: one case, nothing cached, beside a bare SDK script making the
same 4 calls and beside the floor of any pytest plugin (one pytest test running that
script); a cached rerun; and collecting 1,000 cases.

    python benchmarks/bench_startup.py              # median of 10 each, 0 and 200 ms
    python benchmarks/bench_startup.py --repeat 5 --latencies 0

Every figure is one whole process timed from outside, so it includes Python's start-up,
imports, pytest's collection, the statistics and the reports. Beside the wall time: the
CPU seconds (user + system, from wait4), which other processes on a shared machine
disturb far less, and both as a multiple of the bare script's in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from bench_engine import (
    BARE_LOOP,
    CONCURRENCY,
    PYTEST_QUIET,
    harness_cmd,
    scripted_server,
    timed,
    timed_cpu,
    write_suite,
)

#: The floor of any runner that is a pytest session: one test running the bare script
#: in-process, so pytest's start-up, its import hook over the SDK's modules and its exit
#: collections are paid, and nothing of deltajudge.
FLOOR_TEST = """
import runpy
import sys


def test_the_same_four_calls():
    sys.argv = ["bare_loop.py", {url!r}, "1", "aiohttp", "{concurrency}"]
    runpy.run_path({script!r}, run_name="__main__")
"""


def median_of(repeat: int, cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Median wall seconds, median CPU seconds and the largest peak RSS of ``repeat`` runs."""
    walls, cpus, peaks = [], [], []
    for _ in range(repeat):
        wall, rss, code, cpu = timed_cpu(cmd, cwd)
        if code != 0:
            raise SystemExit(f"{cmd} exited {code}")
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(rss)
    return statistics.median(walls), statistics.median(cpus), max(peaks)


Row = tuple[str, str, float, float, float]  # job, runner, wall s, CPU s, peak RSS MB


def bench(latency_ms: int, repeat: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with scripted_server(latency_ms, workdir) as url:
            write_suite(workdir, 1, url)
            label = f"1 case, {latency_ms} ms"
            bare = [sys.executable, str(BARE_LOOP), url, "1", "aiohttp", str(CONCURRENCY)]
            rows.append(
                (label, "bare AsyncOpenAI script, 4 calls", *median_of(repeat, bare, workdir))
            )
            floor = workdir / "floor_test.py"
            floor.write_text(
                FLOOR_TEST.format(url=url, concurrency=CONCURRENCY, script=str(BARE_LOOP))
            )
            in_pytest = [sys.executable, "-m", "pytest", str(floor), *PYTEST_QUIET]
            rows.append(
                (
                    label,
                    "the same script as one pytest test",
                    *median_of(repeat, in_pytest, workdir),
                )
            )
            uncached = harness_cmd("--dj-no-cache")
            rows.append(
                (label, "deltajudge, nothing cached", *median_of(repeat, uncached, workdir))
            )
            timed(harness_cmd(), workdir)  # fill the cache
            rows.append(
                (label, "deltajudge, cached rerun", *median_of(repeat, harness_cmd(), workdir))
            )
            if latency_ms == 0:
                write_suite(workdir, 1000, url)
                collect = harness_cmd("--collect-only")
                rows.append(
                    (
                        "1,000 cases",
                        "deltajudge --collect-only",
                        *median_of(repeat, collect, workdir),
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 200])
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = [row for latency in args.latencies for row in bench(latency, args.repeat)]
    bare = {job: (wall, cpu) for job, runner, wall, cpu, _ in rows if runner.startswith("bare")}
    table = []
    for job, runner, wall, cpu, rss in rows:
        # collecting 1,000 cases is set beside the first bare script (0 ms, if it ran)
        ref_wall, ref_cpu = bare.get(job, next(iter(bare.values())))
        ratios = f"{wall:.2f} ({wall / ref_wall:.2f})", f"{cpu:.2f} ({cpu / ref_cpu:.2f})"
        table.append([job, runner, *ratios, f"{rss:.0f}"])
    headers = ["job", "runner", "median wall s (x bare)", "median CPU s (x bare)", "peak RSS MB"]
    # The machine's load says how far to trust the wall times (2 shared cores).
    print(f"1-minute load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(tabulate(table, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
