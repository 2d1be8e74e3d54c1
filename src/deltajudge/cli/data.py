"""``deltajudge data validate|split|convert|stats``: fine-tuning files before a job.

Exit codes: 0 fine, 1 the file has problems (validate) or rows could not be converted,
2 the command itself could not run (a missing file, a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from deltajudge.cases.finetune_files import FORMATS, MAX_ROW_CHARS, read_rows, validate_file
from deltajudge.errors import ConfigError

if TYPE_CHECKING:
    from deltajudge.cases.finetune_ops import FileStats


def arguments(data: argparse.ArgumentParser) -> None:
    verbs = data.add_subparsers(dest="verb", required=True)

    validate = verbs.add_parser("validate", help="path:line: reason for every bad row")
    validate.add_argument("files", type=Path, nargs="+", help="training files (JSONL)")
    validate.add_argument(
        "--max-chars",
        type=int,
        default=MAX_ROW_CHARS,
        metavar="N",
        help=f"longest row allowed (default: {MAX_ROW_CHARS:,} characters)",
    )
    validate.set_defaults(handler=run_validate)

    split = verbs.add_parser("split", help="train/valid/test by prompt, seeded")
    split.add_argument("file", type=Path, help="the file to split (JSONL)")
    split.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="writes train/valid/test.jsonl"
    )
    split.add_argument("--train", type=float, default=0.8, help="share of prompts (0.8)")
    split.add_argument("--val", type=float, default=0.1, help="share of prompts (0.1)")
    split.add_argument("--test", type=float, default=0.1, help="share of prompts (0.1)")
    split.add_argument("--seed", type=int, default=0, help="the same seed, the same split (0)")
    split.set_defaults(handler=run_split)

    convert = verbs.add_parser("convert", help="OpenAI preference <-> OpenAI SFT <-> TRL")
    convert.add_argument("file", type=Path, help="the file to convert (JSONL)")
    convert.add_argument("--to", choices=FORMATS, required=True, help="the format to write")
    convert.add_argument(
        "--style",
        choices=("standard", "conversational"),
        help="TRL rows: plain strings or message lists",
    )
    convert.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the converted file"
    )
    convert.set_defaults(handler=run_convert)

    stats = verbs.add_parser("stats", help="rows, lengths, preferred/non-preferred ratio")
    stats.add_argument("file", type=Path, help="a training or preference file (JSONL)")
    stats.add_argument("--json", action="store_true", help="machine-readable")
    stats.set_defaults(handler=run_stats)

    leakage = verbs.add_parser("leakage", help="evaluation prompts that are in the training file")
    leakage.add_argument("dataset", type=Path, help="the evaluation data set")
    leakage.add_argument(
        "--train", type=Path, required=True, metavar="FILE", help="the training file"
    )
    leakage.add_argument(
        "--threshold",
        type=float,
        default=0.9,
        help="similarity of a near duplicate (0-1; default 0.9)",
    )
    leakage.add_argument("--fail", action="store_true", help="exit 1 when any prompt leaked")
    leakage.set_defaults(handler=run_leakage)


def run_validate(ns: argparse.Namespace) -> int:
    bad = 0
    for path in ns.files:
        problems = validate_file(path, max_chars=ns.max_chars)
        for problem in problems:
            print(problem)
        bad += bool(problems)
        if not problems:
            print(f"{path}: ok")
    return 1 if bad else 0


def run_split(ns: argparse.Namespace) -> int:
    from deltajudge.cases.finetune_ops import SPLITS, split_rows

    _, rows, problems = read_rows(ns.file)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        splits = split_rows(rows, (ns.train, ns.val, ns.test), ns.seed)
    except ValueError as exc:
        raise ConfigError(f"--train/--val/--test: {exc}") from None
    ns.out.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        path = ns.out / f"{name}.jsonl"
        path.write_text("".join(r.raw + "\n" for r in splits[name]), encoding="utf-8")
        print(f"wrote {path} ({len(splits[name])} rows)")
    return 0


def run_convert(ns: argparse.Namespace) -> int:
    from deltajudge.cases.finetune_ops import ConversionError, convert_row, default_style

    fmt, rows, problems = read_rows(ns.file)
    style = ns.style or default_style(fmt, rows)
    out: list[str] = []
    lost: dict[str, int] = {}
    failed = [str(p) for p in problems]
    for row in rows:
        try:
            record, dropped = convert_row(row, ns.to, style)
        except ConversionError as exc:
            failed.append(f"{ns.file}:{str(exc).removeprefix('line ')}")
            continue
        out.append(json.dumps(record, ensure_ascii=False))
        for what in dropped:
            lost[what] = lost.get(what, 0) + 1
    for message in failed:
        print(message, file=sys.stderr)
    if failed:
        return 1
    ns.out.write_text("".join(line + "\n" for line in out), encoding="utf-8")
    print(f"wrote {ns.out} ({len(out)} {ns.to} rows from {fmt})")
    for what, count in lost.items():
        print(f"not kept ({ns.to} has no place for it): {what} in {count} rows")
    return 0


def run_stats(ns: argparse.Namespace) -> int:
    from deltajudge.cases.finetune_ops import file_stats

    fmt, rows, problems = read_rows(ns.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not rows:
        return 1
    stats = file_stats(fmt, rows)
    if ns.json:
        print(json.dumps(asdict(stats), indent=2))
    else:
        print(render_stats(ns.file, stats))
    return 1 if problems else 0


def render_stats(path: Path, stats: FileStats) -> str:
    from tabulate import tabulate

    head = f"{path}: {stats.rows} rows ({stats.format}), {stats.prompts} distinct prompts"
    table = [
        (name, f"{v.mean:,.1f}", f"{v.median:,.0f}", f"{v.max:,}")
        for name, v in (
            ("prompt turns", stats.prompt_turns),
            ("prompt chars", stats.prompt_chars),
            ("preferred chars" if stats.rejected_chars else "answer chars", stats.chosen_chars),
            ("non-preferred chars", stats.rejected_chars),
        )
        if v is not None
    ]
    lines = [head, tabulate(table, headers=["", "mean", "median", "max"], colalign=("left",))]
    if stats.length_ratio is not None and stats.chosen_longer is not None:
        lines.append(
            f"length ratio preferred/non-preferred: {stats.length_ratio:.2f}; the preferred "
            f"answer is the longer one in {stats.chosen_longer:.0%} of pairs"
        )
    return "\n".join(lines)


def run_leakage(ns: argparse.Namespace) -> int:
    """A warning by default (the run may still be worth reading); ``--fail`` for CI."""
    from deltajudge.cases.leakage import leaks_between

    leaks = leaks_between(ns.dataset, ns.train, ns.threshold)
    for leak in leaks:
        print(leak.render(ns.dataset, ns.train))
    if not leaks:
        print(f"{ns.dataset}: no prompt found in {ns.train}")
        return 0
    print(
        f"warning: {len(leaks)} evaluation prompts are in the training file: their scores "
        "measure memory, not the fine-tune",
        file=sys.stderr,
    )
    return 1 if ns.fail else 0
