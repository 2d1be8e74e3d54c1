"""What the HTML report costs, next to the raw data it renders.

The bar (from the report's issue): a 2,000-case report renders in under 2 seconds and
stays under 8 MB. The baseline is ``json.dumps`` of the same report, so a reader sees the
price of the page over the bare data. If Debian's chromium is installed, the page is also
loaded from ``file://`` in headless Chromium, as a reader would open it.

    python benchmarks/bench_html_report.py                  # 2,000 cases, base + 2 candidates
    python benchmarks/bench_html_report.py --n 500 --candidates 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from chromium import CHROMIUM, CHROMIUM_ARGS
from deltajudge.reporting.html import render_html
from deltajudge.reporting.markdown import render_markdown
from deltajudge.reporting.model import Report
from report_factory import make_report


def _median_time(fn: Callable[[], str], repeats: int) -> tuple[float, str]:
    """Median wall seconds of ``repeats`` calls, after one warm-up (templates compile once)."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _page_load(html: str, repeats: int) -> float | None:
    """Median seconds from navigation to the load event, measured by the page itself."""
    if not CHROMIUM.exists():
        return None
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        path = Path(tmp) / "report.html"
        path.write_text(html, encoding="utf-8")
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        times = []
        for _ in range(repeats + 1):
            page.goto(path.as_uri(), wait_until="load")
            nav = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
            times.append(float(nav) / 1000)
        browser.close()
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="cases (default 2000)")
    parser.add_argument("--candidates", type=int, default=2, choices=(1, 2), help="candidates")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    args = parser.parse_args()
    candidates = ("candidate", "sft")[: args.candidates]
    report: Report = make_report(args.n, candidates=candidates)
    data = report.model_dump(mode="json")

    rows = []
    json_s, json_out = _median_time(lambda: json.dumps(data), args.repeats)
    json_mb = len(json_out.encode()) / 1e6
    rows.append(["json.dumps (baseline)", json_s, json_mb, 1.0])
    html_s, html = _median_time(lambda: render_html(report), args.repeats)
    rows.append(
        ["render_html", html_s, len(html.encode()) / 1e6, len(html.encode()) / 1e6 / json_mb]
    )
    md_s, md = _median_time(lambda: render_markdown(report), args.repeats)
    rows.append(["render_markdown", md_s, len(md.encode()) / 1e6, len(md.encode()) / 1e6 / json_mb])
    load = _page_load(html, 3)
    rows.append(["chromium: open report.html", load if load is not None else "no chromium", "", ""])

    print(
        f"{args.n} cases, base + {len(candidates)} candidates, 2 graders; median of {args.repeats}"
    )
    headers = ["what", "seconds", "size MB", "size vs JSON"]
    print(tabulate(rows, headers=headers, floatfmt=".3f", disable_numparse=False))


if __name__ == "__main__":
    main()
