"""How long report.html and summary.md take to write at 100,000 cases, and how big they are.

The bar (issue 17 item 3): report.html for 100,000 cases in under 10 s on 2 cores. The page
renders at most `DETAIL_CAP` cases in full and carries every case in a compact searchable
index, so its size grows by a line of JSON per case, not by a rendered row. The synthetic
`Report` is built directly (tests/report_factory.py: base + one candidate, two 0–4 judge
graders, planted regressions and errors); building it is not timed. The timed step is what a
run does at its end: `write_html` / `write_markdown` to a file (secret scan included).

    python benchmarks/bench_report_render.py                 # 100,000 cases
    python benchmarks/bench_report_render.py --n 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from deltajudge.reporting.build import write_json
from deltajudge.reporting.html import write_html
from deltajudge.reporting.markdown import write_markdown
from report_factory import make_report


def _timed(write: Callable[[], Path], repeats: int) -> tuple[float, float, int]:
    """Median and worst wall seconds of ``repeats`` writes, and the file's size in bytes."""
    times = []
    path = write()
    for _ in range(repeats):
        start = time.perf_counter()
        path = write()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (default 100,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed writes per row (median)")
    args = parser.parse_args()
    start = time.perf_counter()
    report = make_report(args.n)
    built = time.perf_counter() - start
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        writers: dict[str, Callable[[], Path]] = {
            "report.json (write_json)": lambda: write_json(report, out),
            "report.html (write_html)": lambda: write_html(report, out / "report.html"),
            "summary.md (write_markdown)": lambda: write_markdown(report, out / "summary.md"),
        }
        for name, write in writers.items():
            median, worst, size = _timed(write, args.repeats)
            rows.append([name, median, worst, size / 1e6])
    print(
        f"{args.n:,} cases, base + 1 candidate, 2 graders (report built in {built:.1f} s, "
        f"not timed); median of {args.repeats} writes after one warm-up"
    )
    headers = ["file", "median s", "worst s", "size MB"]
    print(tabulate(rows, headers=headers, floatfmt=".2f", disable_numparse=False))


if __name__ == "__main__":
    main()
