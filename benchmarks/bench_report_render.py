"""How long report.html and summary.md take to write at 100,000 cases, and how big they are.

The bar (issue 17 item 3): report.html for 100,000 cases in under 10 s on 2 cores. The page
renders at most `DETAIL_CAP` cases in full and carries every case in a compact searchable
index, so its size grows by a line of JSON per case, not by a rendered row. The synthetic
`Report` is built directly: tests/report_factory.py's 2,000 cases (base + one candidate, two
0–4 judge graders, planted regressions, errors and hostile strings) repeated under new ids
up to ``--n`` (the factory's own figures are exact binomials, minutes at 100,000 cases);
building it is not timed. The timed step is what a run does at its end: `write_json`,
`write_html`, `write_markdown` to files (the secret scan, shared by the three, included in
the first).

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

from chromium import CHROMIUM, CHROMIUM_ARGS
from deltajudge.reporting.build import write_json
from deltajudge.reporting.html import write_html
from deltajudge.reporting.markdown import write_markdown
from deltajudge.reporting.model import Report
from report_factory import make_report

#: Distinct cases the factory builds; the rest repeat them under new ids.
SEED_CASES = 2000


def synthetic(n: int) -> Report:
    report = make_report(min(n, SEED_CASES))
    rubric = report.rubrics[0]
    seed = rubric.cases
    cases = [
        seed[i % len(seed)].model_copy(update={"id": f"case-{i:06d}", "line": i + 1})
        for i in range(n)
    ]
    big = rubric.model_copy(update={"cases": cases, "cases_selected": n, "cases_total": n})
    return report.model_copy(update={"rubrics": [big]})


def _timed(write: Callable[[], Path], repeats: int) -> tuple[float, float, int]:
    """Median and worst wall seconds of ``repeats`` writes, and the file's size in bytes.
    The first write is timed too: a run writes each file once, templates cold."""
    times, path = [], Path()
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        path = write()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), path.stat().st_size


def _in_chromium(path: Path) -> list[list[object]]:
    """Seconds to open the page from ``file://`` (to the load event) and to open the index
    and search every case, as the page itself measures them; nothing without chromium."""
    if not CHROMIUM.exists():
        return [["chromium: not installed", "", "", ""]]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(path.as_uri(), wait_until="load")
        load = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        search = page.evaluate(
            """() => { const index = document.querySelector(".index");
                       const t = performance.now(); index.open = true;
                       return new Promise(done => index.addEventListener("toggle", () => {
                         const q = index.querySelector(".q"); q.value = "refund";
                         q.dispatchEvent(new Event("input"));
                         done(performance.now() - t); }, {once: true})); }"""
        )
        browser.close()
    return [
        ["chromium: open report.html", float(load) / 1000, "", ""],
        ["chromium: open the index, search all", float(search) / 1000, "", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="cases (default 100,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed writes per row (median)")
    args = parser.parse_args()
    start = time.perf_counter()
    report = synthetic(args.n)
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
        rows += _in_chromium(out / "report.html")
    print(
        f"{args.n:,} cases, base + 1 candidate, 2 graders (report built in {built:.1f} s, "
        f"not timed); median of {args.repeats} writes"
    )
    headers = ["file", "median s", "worst s", "size MB"]
    print(tabulate(rows, headers=headers, floatfmt=".2f", disable_numparse=False))


if __name__ == "__main__":
    main()
