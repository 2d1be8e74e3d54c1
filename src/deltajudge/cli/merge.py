"""``deltajudge merge SHARD_DIRS... --report-dir DIR``: one report from N shard runs.

Each ``--dj-shard K/N`` run (a CI matrix job, or an xdist worker) leaves raw results in
its report folder; this reads them all, checks they are the N shards of one run, and
concludes them exactly as a single run would: statistics, gates, the baseline gate and
the reports. It calls no model. Exit 0 when every gate passes, 1 when one fails.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "shards", type=Path, nargs="+", metavar="SHARD_DIR", help="a shard's report folder"
    )
    parser.add_argument(
        "--report-dir", type=Path, required=True, help="where the merged reports go"
    )
    parser.add_argument(
        "--config", type=Path, help="config file (default: deltajudge.toml, else pyproject.toml)"
    )
    parser.add_argument("--baseline", help="gate against an accepted report.json")
    parser.add_argument(
        "--update-baseline", action="store_true", help="accept the merged run as the baseline"
    )


def merge(ns: argparse.Namespace) -> int:
    from deltajudge.pipeline import merge_shards
    from deltajudge.reporting.terminal import summary_lines
    from deltajudge.settings import load_settings

    rootdir = Path.cwd()
    overrides: dict[str, object] = {}
    if ns.baseline is not None:
        overrides["baseline"] = ns.baseline
    if ns.update_baseline:
        overrides["update_baseline"] = True
    settings = load_settings(rootdir, config_file=ns.config, overrides=overrides)
    evaluation = merge_shards(list(ns.shards), settings, rootdir)
    paths = evaluation.write_reports(ns.report_dir)
    assert evaluation.report is not None
    for line in summary_lines(evaluation.report, [str(p) for p in paths]):
        print(line)
    failed = [
        f"{outcome.run.name}: {gate.name}: {gate.reason}"
        for outcome in evaluation.outcomes.values()
        for gate in outcome.gates.values()
        if not gate.passed
    ]
    for line in failed:
        print(f"gate failed: {line}")
    verdict = "gates failed" if failed else "all gates passed"
    print(f"merged {len(ns.shards)} shard folder(s): {verdict}")
    return 1 if failed else 0
