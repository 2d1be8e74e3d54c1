"""Commands that work on saved reports only: re-render, and diff two runs."""

from __future__ import annotations

from pathlib import Path

from deltajudge.reporting.compare import compare_reports, load_report
from deltajudge.reporting.html import write_html
from deltajudge.reporting.markdown import write_markdown


def rerender(report_path: Path, out: Path | None, report_url: str | None = None) -> int:
    report = load_report(report_path)
    directory = out or report_path.parent
    directory.mkdir(parents=True, exist_ok=True)
    for path in (
        write_html(report, directory / "report.html"),
        write_markdown(report, directory / "summary.md", report_url=report_url),
    ):
        print(f"wrote {path}")
    return 0


def diff(old_path: Path, new_path: Path) -> int:
    """Exit 1 when something changed, like diff(1), so scripts can branch on it."""
    lines = compare_reports(load_report(old_path), load_report(new_path)).lines()
    print("\n".join(lines) if lines else "no changes")
    return 1 if lines else 0
