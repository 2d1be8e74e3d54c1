"""The fixed cost of a run: one case, nothing cached, beside a bare SDK script making the
same 4 calls; a cached rerun; and collecting 1,000 cases.

    python benchmarks/bench_startup.py              # median of 10 each, 0 and 200 ms
    python benchmarks/bench_startup.py --repeat 5 --latencies 0

Every figure is one whole process timed from outside, so it includes Python's start-up,
imports, pytest's collection, the statistics and the reports.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from bench_engine import BARE_LOOP, CONCURRENCY, harness_cmd, scripted_server, timed, write_suite


def median_of(repeat: int, cmd: list[str], cwd: Path) -> tuple[float, float]:
    walls, peaks = [], []
    for _ in range(repeat):
        wall, rss, code = timed(cmd, cwd)
        if code != 0:
            raise SystemExit(f"{cmd} exited {code}")
        walls.append(wall)
        peaks.append(rss)
    return statistics.median(walls), max(peaks)


def bench(latency_ms: int, repeat: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with scripted_server(latency_ms, workdir) as url:
            write_suite(workdir, 1, url)
            label = f"1 case, {latency_ms} ms"
            bare = [sys.executable, str(BARE_LOOP), url, "1", "aiohttp", str(CONCURRENCY)]
            rows.append(
                [label, "bare AsyncOpenAI script, 4 calls", *median_of(repeat, bare, workdir)]
            )
            uncached = harness_cmd("--dj-no-cache")
            rows.append(
                [label, "deltajudge, nothing cached", *median_of(repeat, uncached, workdir)]
            )
            timed(harness_cmd(), workdir)  # fill the cache
            rows.append(
                [label, "deltajudge, cached rerun", *median_of(repeat, harness_cmd(), workdir)]
            )
            if latency_ms == 0:
                write_suite(workdir, 1000, url)
                collect = harness_cmd("--collect-only")
                rows.append(
                    [
                        "1,000 cases",
                        "deltajudge --collect-only",
                        *median_of(repeat, collect, workdir),
                    ]
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 200])
    args = parser.parse_args()
    rows = [row for latency in args.latencies for row in bench(latency, args.repeat)]
    for row in rows:
        row[2] = f"{row[2]:.2f}"
        row[3] = f"{row[3]:.0f}"
    headers = ["job", "runner", "median wall s", "peak RSS MB"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
