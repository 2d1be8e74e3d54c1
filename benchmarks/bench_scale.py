"""The harness's own cost at scale, with no network in the way: N cases (100,000 by
default) answered by two recorded models and scored by a python grader, so every figure
is collection, the engine's bookkeeping, statistics and reports, not a server's speed.

    python benchmarks/bench_scale.py                  # N=100000
    python benchmarks/bench_scale.py --n 10000
    python benchmarks/bench_scale.py --n 20000 --collect-only --case-items 999999  # per case

Each row is one whole pytest process timed from outside (wall seconds, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tabulate import tabulate

from bench_engine import harness_cmd, timed
from deltajudge.generation.recorded import RecordedAnswer, input_hash

RUBRIC = """\
name: scale
dataset: ../cases.jsonl
models: [base, candidate]
graders:
  - name: length
    type: python
    pass_threshold: 2
    source: |
      def grade(sample, item):
          return float(len(sample["output_text"]) % 5)
gates:
  - {metric: mean_delta, grader: length, min: -1}
"""

CONFIG = """\
[models.base]
provider = "recorded"
path = "base.jsonl"

[models.candidate]
provider = "recorded"
path = "candidate.jsonl"
"""


def write_suite(workdir: Path, n: int) -> None:
    (workdir / "rubrics").mkdir()
    (workdir / "rubrics" / "scale.yaml").write_text(RUBRIC)
    (workdir / "deltajudge.toml").write_text(CONFIG)
    with open(workdir / "cases.jsonl", "w") as cases:
        for i in range(n):
            cases.write(json.dumps({"id": f"c{i}", "input": f"customer question {i}"}) + "\n")
    for alias, extra in (("base", ""), ("candidate", " Thanks for asking!")):
        with open(workdir / f"{alias}.jsonl", "w") as out:
            for i in range(n):
                messages = [{"role": "user", "content": f"customer question {i}"}]
                answer = f"Answer {i * 7919 % 1013}.{extra[: i % 7]}"
                line = RecordedAnswer(
                    case_id=f"c{i}",
                    input_hash=input_hash(messages),
                    sample=0,
                    answer=answer,
                    alias=alias,
                    model=f"{alias}-model",
                )
                out.write(line.to_line() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--collect-only", action="store_true", help="skip the full run")
    parser.add_argument(
        "--case-items", type=int, help="--dj-case-items (a huge value: one item per case)"
    )
    args = parser.parse_args()
    n = args.n
    chunks = () if args.case_items is None else (f"--dj-case-items={args.case_items}",)
    jobs = [("--collect-only", ("--collect-only",))]
    if not args.collect_only:
        jobs.append(("full run, no cache", ("--dj-no-cache",)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_suite(workdir, n)
        for label, extra in jobs:
            wall, rss, code = timed(harness_cmd(*extra, *chunks), workdir)
            rows.append([f"{n:,} cases", label, f"{wall:.1f}", f"{rss:.0f}", code])
        html = workdir / "out" / "report.html"
        size = f"{html.stat().st_size / 1e6:.1f} MB" if html.exists() else "-"
        rows.append([f"{n:,} cases", "report.html size", size, "", ""])
    headers = ["job", "runner", "wall s", "peak RSS MB", "exit"]
    print(tabulate(rows, headers=headers, disable_numparse=True))


if __name__ == "__main__":
    main()
