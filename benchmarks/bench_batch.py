"""A suite completed through the Batch API: submit, collect, submit, collect, rerun.

The job is bench_engine's (N prompts x 2 models, each answer judged 0-4: 4N requests),
run against the scripted server's Files and Batches endpoints (a separate process on
loopback). Each step is one whole ``pytest`` process; after it, the figures come from
the state file, the SQLite cache and report.json, as a user would see them.

    python benchmarks/bench_batch.py --n 1000
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import harness_cmd, scripted_server, timed, write_suite

STEPS = ("submit", "collect", "submit", "collect", None)


def _cache_rows(workdir: Path) -> tuple[int, int]:
    with sqlite3.connect(workdir / ".deltajudge" / "cache.sqlite3") as db:
        rows = [
            db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("generations", "judgments")
        ]
    return rows[0], rows[1]


def _batches(workdir: Path) -> list[dict[str, object]]:
    path = workdir / ".deltajudge" / "batches" / "state.json"
    batches: list[dict[str, object]] = (
        json.loads(path.read_text())["batches"] if path.exists() else []
    )
    return batches


def bench(n: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with scripted_server(0, workdir) as url:
            write_suite(workdir, n, url)
            seen, cached = 0, 0
            for step in STEPS:
                extra = ("--dj-batch", step) if step else ()
                wall, rss, code = timed(harness_cmd(*extra), workdir)
                new = _batches(workdir)[seen:]
                seen += len(new)
                generations, judgments = _cache_rows(workdir)
                collected, cached = generations + judgments - cached, generations + judgments
                report = workdir / "out" / "report.json"
                hits = json.loads(report.read_text())["cache_hits"] if code == 0 else "-"
                report.unlink(missing_ok=True)
                submitted = sum(int(str(b["requests"])) for b in new)
                rows.append(
                    [step or "plain rerun", code, f"{wall:.1f}", f"{rss:.0f}", submitted,
                     len(new), collected, hits]
                )  # fmt: skip
            wall, rss, code = timed(harness_cmd("--dj-no-cache"), workdir)
            rows.append(["direct run, no cache (for scale)", code, f"{wall:.1f}", f"{rss:.0f}",
                         "-", "-", "-", "-"])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    headers = ["step", "exit", "wall s", "peak RSS MB", "requests submitted", "batches",
               "requests collected (cached)", "cache hits"]  # fmt: skip
    print(tabulate(bench(args.n), headers=headers))


if __name__ == "__main__":
    main()
