"""The ``deltajudge`` command: a thin shell.

``deltajudge run`` goes through ``pytest.main`` so that it and plain ``pytest`` give the
same items, results and exit codes; the other commands work on saved reports and never
call a model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from deltajudge import __version__
from deltajudge.errors import DeltajudgeError

_RUN_FLAGS = {
    "config": "--dj-config",
    "report_dir": "--dj-report-dir",
    "cache_dir": "--dj-cache-dir",
    "concurrency": "--dj-concurrency",
    "baseline": "--dj-baseline",
}
_RUN_SWITCHES = {
    "offline": "--dj-offline",
    "no_cache": "--dj-no-cache",
    "update_baseline": "--dj-update-baseline",
    "no_progress": "--dj-no-progress",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deltajudge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"deltajudge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run rubric files (any pytest option may follow)")
    run.add_argument("paths", nargs="*", default=["rubrics"], help="rubric files or folders")
    run.add_argument("--config", metavar="FILE")
    run.add_argument("--report-dir", metavar="DIR")
    run.add_argument("--cache-dir", metavar="DIR")
    run.add_argument("--concurrency", type=int, metavar="N")
    run.add_argument("--baseline", metavar="REPORT")
    run.add_argument("--model", action="append", default=[], metavar="ALIAS=MODEL")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_")
    for switch in _RUN_SWITCHES:
        run.add_argument(f"--{switch.replace('_', '-')}", action="store_true")

    report = commands.add_parser("report", help="re-render HTML and Markdown from report.json")
    report.add_argument("report", type=Path)
    report.add_argument("--out", type=Path, help="folder for the renderings (default: beside it)")

    diff = commands.add_parser("diff", help="what changed between two report.json files")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    from deltajudge.cli.commands import add_commands  # import/export, data, record

    add_commands(commands)
    return parser


def pytest_args(ns: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    args = list(ns.paths)
    for name, flag in _RUN_FLAGS.items():
        value = getattr(ns, name)
        if value is not None:
            args += [flag, str(value)]
    args += [a for model in ns.model for a in ("--dj-model", model)]
    args += [a for item in ns.set_ for a in ("--dj-set", item)]
    args += [flag for name, flag in _RUN_SWITCHES.items() if getattr(ns, name)]
    # This process imported deltajudge before pytest could mark it for assertion
    # rewriting; the plugin asserts nothing a user reads, so the warning is noise.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return [*args, *quiet, *extra]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    ns, extra = parser.parse_known_args(argv)
    if ns.command != "run" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if ns.command == "run":
            import pytest

            return int(pytest.main(pytest_args(ns, extra)))
        if hasattr(ns, "handler"):
            return int(ns.handler(ns))
        from deltajudge.cli import reports

        if ns.command == "report":
            return reports.rerender(ns.report, ns.out)
        return reports.diff(ns.old, ns.new)
    except DeltajudgeError as exc:
        print(f"deltajudge: {exc}", file=sys.stderr)
        return 2
