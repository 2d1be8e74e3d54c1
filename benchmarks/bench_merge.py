"""Sharding and the baseline gate at scale: bench_scale.py's suite (N cases, 100,000 by
default, two recorded models and a python grader: no network) run once whole, then as 4
shards one after the other, then ``deltajudge merge`` of the 4, the same merge gated on
the whole run's accepted baseline, and a whole rerun gated on it.

    python benchmarks/bench_merge.py                  # N=100000
    python benchmarks/bench_merge.py --n 20000

Each row is one whole process timed from outside (wall seconds, peak RSS). The last line
says whether the merged report.json equals the single run's (timestamps and notes aside)
and whether both baseline gates passed (the suite is deterministic: nothing fell).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tabulate import tabulate

from bench_engine import harness_cmd, timed
from bench_scale import write_suite

SHARDS = 4
#: The default cache folder: it also keeps each rubric's figures by its scores, which
#: would let the second merge skip the statistics.
CACHE = ".deltajudge"
#: Timing, and the notes (each shard's estimate is its own): what a merge may change.
VOLATILE = {"created_at", "duration_s", "notes"}


def merge_cmd(*extra: str) -> list[str]:
    folders = [f"shard-{k}" for k in range(1, SHARDS + 1)]
    return [sys.executable, "-m", "deltajudge.cli", "merge", *folders, *extra]


def comparable(path: Path) -> dict[str, Any]:
    """report.json without what differs between a run and a merge; the baseline gate (the
    merge's own is decided against the accepted run) is left out too."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for rubric in data["rubrics"]:
        rubric["gates"] = [g for g in rubric["gates"] if g["name"] != "baseline"]
    return {k: v for k, v in data.items() if k not in VOLATILE}


def baseline_passed(path: Path) -> bool:
    data = json.loads(path.read_text(encoding="utf-8"))
    return all(g["passed"] for r in data["rubrics"] for g in r["gates"] if g["name"] == "baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    n = args.n
    base = ("--dj-no-cache", "--dj-baseline", "baseline.json")
    jobs: list[tuple[str, list[str]]] = [
        ("single run (accepted as the baseline)", harness_cmd(*base, "--dj-update-baseline")),
        *(
            (f"shard {k}/{SHARDS}", [*harness_cmd("--dj-no-cache"), f"--dj-shard={k}/{SHARDS}"])
            for k in range(1, SHARDS + 1)
        ),
        ("deltajudge merge", merge_cmd("--report-dir", "merged")),
        (
            "deltajudge merge, baseline gate",
            merge_cmd("--report-dir", "gated", "--baseline", "baseline.json"),
        ),
        ("single rerun, baseline gate", [*harness_cmd(*base), "--dj-report-dir", "rerun"]),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_suite(workdir, n)
        for label, cmd in jobs:
            if label.startswith("shard"):
                k = label.split()[1].split("/")[0]
                cmd = [*cmd, "--dj-report-dir", f"shard-{k}"]
            if "merge" in label:  # no figures replayed from the cache: both compute them
                shutil.rmtree(workdir / CACHE, ignore_errors=True)
            wall, rss, code = timed(cmd, workdir)
            rows.append([f"{n:,} cases", label, f"{wall:.1f}", f"{rss:.0f}", code])
        same = comparable(workdir / "merged" / "report.json") == comparable(
            workdir / "out" / "report.json"
        )
        gated = baseline_passed(workdir / "gated" / "report.json") and baseline_passed(
            workdir / "rerun" / "report.json"
        )
        size = (workdir / "baseline.json").stat().st_size / 1e6
    headers = ["job", "runner", "wall s", "peak RSS MB", "exit"]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print(f"merged report.json equals the single run's: {'yes' if same else 'NO'}")
    print(f"baseline gates passed (merge, rerun): {'yes' if gated else 'NO'}")
    print(f"baseline.json: {size:.1f} MB")


if __name__ == "__main__":
    main()
