"""``deltajudge validate-judge RUBRIC --pairs test.jsonl``: does the judge agree with your
labels, better than chance and better than "pick the longer answer"? Exit 1 if not."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the statistics import scipy: only when the command runs
    from deltajudge.stats.agreement import Agreement


def arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("rubric", type=Path, help="the rubric whose judge is checked")
    check.add_argument(
        "--pairs",
        type=Path,
        required=True,
        metavar="FILE",
        help="preference pairs (OpenAI or TRL format)",
    )
    check.add_argument("--grader", metavar="NAME", help="default: the first model grader")
    check.add_argument(
        "--config", type=Path, metavar="FILE", help="default: deltajudge.toml, else pyproject.toml"
    )
    check.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="a person's labels (CSV or JSONL: case,label): Cohen's kappa",
    )
    check.add_argument("--json", action="store_true", help="machine-readable")
    check.set_defaults(handler=run_validate_judge)


def run_validate_judge(ns: argparse.Namespace) -> int:
    from tabulate import tabulate

    from deltajudge.judge_check import check_judge

    result = check_judge(ns.rubric, ns.pairs, ns.grader, ns.config, ns.labels)
    found = result.validation
    if ns.json:
        human = None
        if result.human is not None:
            human = asdict(result.human) | {"labels": str(result.human.labels)}
        body = {"grader": result.grader, **asdict(found), "flagged": found.flagged}
        print(json.dumps(body | {"human": human}, indent=2))
        return 1 if found.flagged else 0
    rows = [
        _row(f"judge ({result.grader})", found.judge),
        _row("pick the longer answer", found.length),
        _row("judge, preferred answer shorter", found.judge_when_preferred_shorter),
    ]
    headers = ["", "agree", "tie", "disagree", "agreement", "95% CI", "p vs chance"]
    print(f"{result.pairs}: {len(result.verdicts)} pairs, {found.errors} not judged")
    print(tabulate(rows, headers=headers, colalign=("left",)))
    p = found.p_vs_length
    print("judge vs length heuristic (exact McNemar): " + ("—" if p is None else f"p = {p:.3g}"))
    if result.human is not None:
        kappa = result.human.kappa
        shown = "—" if kappa is None else f"{kappa:.2f}"
        print(f"judge vs {result.human.labels}: Cohen's kappa = {shown} on {result.human.n} pairs")
    failed = next((v for v in result.verdicts if v.outcome is None), None)
    if failed is not None:
        grades = [failed.preferred, failed.rejected]
        error = next((g.error for g in grades if g is not None and g.error), "no score")
        print(f"first pair not judged (line {failed.line}): {error}")
    if found.flagged:
        print("FLAGGED: the judge")
        print("\n".join(f"  - {reason}" for reason in found.reasons))
        return 1
    print("ok: the judge beats chance and the length heuristic")
    return 0


def _row(name: str, agreement: Agreement) -> list[str]:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    interval = (
        "—" if agreement.ci_low is None else f"[{pct(agreement.ci_low)}, {pct(agreement.ci_high)}]"
    )
    p = "—" if agreement.p_vs_chance is None else f"{agreement.p_vs_chance:.3g}"
    return [
        name,
        str(agreement.agree),
        str(agreement.ties),
        str(agreement.disagree),
        pct(agreement.rate),
        interval,
        p,
    ]
