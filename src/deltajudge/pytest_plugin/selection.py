"""Which cases a session evaluates: what pytest selected, a ``--dj-limit`` subset of it, and
whether that is the whole suite (only a whole run may become the accepted baseline)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deltajudge.pytest_plugin.items import CaseItem, GateItem

if TYPE_CHECKING:
    from deltajudge.engine import StopWhen
    from deltajudge.pipeline import Evaluation
    from deltajudge.results import CaseResult, RubricRun
    from deltajudge.shards import Shard

#: The subset ``--dj-limit`` draws is the same on every run, so two limited runs compare.
LIMIT_SEED = 20261201


def limited(
    items: Sequence[pytest.Item], limit: int
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Keep a seeded random ``limit`` of each rubric's case items (gates stay), in file order."""
    by_rubric: dict[Path, list[CaseItem]] = {}
    for item in items:
        if isinstance(item, CaseItem):
            by_rubric.setdefault(item.loaded.path, []).append(item)
    dropped: set[int] = set()
    for path, cases in by_rubric.items():
        if len(cases) > limit:
            rng = random.Random(f"{LIMIT_SEED}:{path.name}")
            keep = {id(c) for c in rng.sample(cases, limit)}
            dropped |= {id(c) for c in cases if id(c) not in keep}
    kept = [i for i in items if id(i) not in dropped]
    return kept, [i for i in items if id(i) in dropped]


def sharded(
    items: Sequence[pytest.Item], shard: Shard
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Keep the case items of shard K/N (by a hash of rubric name and case id) and every
    gate item (a shard's gates report that ``deltajudge merge`` decides them)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        mine = not isinstance(item, CaseItem) or shard.holds(item.loaded.name, item.case.id)
        (kept if mine else dropped).append(item)
    return kept, dropped


def select(evaluation: Evaluation, items: Sequence[pytest.Item]) -> None:
    """Hand the evaluation the cases to run; note whether any collected case was left out."""
    by_rubric: dict[Path, list[str]] = {}
    gated: set[Path] = set()
    for item in items:
        if isinstance(item, CaseItem):
            by_rubric.setdefault(item.loaded.path, []).append(item.case.id)
        elif isinstance(item, GateItem):
            gated.add(item.loaded.path)
    for path in gated - by_rubric.keys():  # a gate selected on its own needs its cases
        by_rubric[path] = [c.id for c in evaluation.rubrics[path].cases]
    for path, ids in by_rubric.items():
        evaluation.select(path, ids)
    evaluation.partial = any(
        len(by_rubric.get(path, [])) < len(loaded.cases)
        for path, loaded in evaluation.rubrics.items()
    )


def stop_after_failures(maxfail: int) -> StopWhen:
    """pytest's ``-x``/``--maxfail N`` for the engine: once N evaluated cases fail their
    case check, start no new case, so a broken endpoint or prompt costs N cases, not all."""
    from deltajudge.gating.case_check import case_verdict

    failed = 0

    def stop(run: RubricRun, result: CaseResult) -> bool:
        nonlocal failed
        failed += not case_verdict(result, run.loaded.rubric).passed
        return failed >= maxfail

    return stop
