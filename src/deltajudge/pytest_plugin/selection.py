"""Which cases a session evaluates: what pytest selected, a ``--dj-limit`` subset of it, and
whether that is the whole suite (only a whole run may become the accepted baseline)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deltajudge.pytest_plugin.items import ChunkItem, GateItem, cases_of

if TYPE_CHECKING:
    from deltajudge.cases import Case
    from deltajudge.engine import StopWhen
    from deltajudge.judging.loading import LoadedRubric
    from deltajudge.pipeline import Evaluation
    from deltajudge.results import CaseResult, RubricRun
    from deltajudge.shards import Shard

#: The subset ``--dj-limit`` draws is the same on every run, so two limited runs compare.
LIMIT_SEED = 20261201


def limited(
    items: Sequence[pytest.Item], limit: int
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Keep a seeded random ``limit`` of each rubric's cases (gates stay), in file order: a
    chunk item keeps its drawn cases, and goes when none of them is drawn."""
    by_rubric: dict[Path, list[tuple[pytest.Item, Case]]] = {}
    for item in items:
        held = cases_of(item)
        if held is not None:
            by_rubric.setdefault(held[0].path, []).extend((item, case) for case in held[1])
    drawn: dict[int, set[str]] = {}  # id(item) -> the ids of its cases that stay
    for path, pairs in by_rubric.items():
        if len(pairs) > limit:
            rng = random.Random(f"{LIMIT_SEED}:{path.name}")
            pairs = rng.sample(pairs, limit)
        for item, case in pairs:
            drawn.setdefault(id(item), set()).add(case.id)
    return _narrowed(items, lambda _, case, item: case.id in drawn.get(id(item), ()))


def sharded(
    items: Sequence[pytest.Item], shard: Shard
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Keep the cases of shard K/N (by a hash of rubric name and case id) and every gate
    item (a shard's gates report that ``deltajudge merge`` decides them); a chunk item keeps
    its cases in the shard, and goes when it has none."""
    return _narrowed(items, lambda loaded, case, _: shard.holds(loaded.name, case.id))


def _narrowed(
    items: Sequence[pytest.Item], keep: Callable[[LoadedRubric, Case, pytest.Item], bool]
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """Items split by ``keep`` on their cases: a chunk is narrowed to the cases kept."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        held = cases_of(item)
        if held is None:
            kept.append(item)
            continue
        mine = tuple(c for c in held[1] if keep(held[0], c, item))
        if isinstance(item, ChunkItem) and mine:
            item.cases = mine
        (kept if mine else dropped).append(item)
    return kept, dropped


def select(evaluation: Evaluation, items: Sequence[pytest.Item]) -> None:
    """Hand the evaluation the cases to run; note whether any collected case was left out."""
    by_rubric: dict[Path, list[str]] = {}
    gated: set[Path] = set()
    for item in items:
        held = cases_of(item)
        if held is not None:
            by_rubric.setdefault(held[0].path, []).extend(c.id for c in held[1])
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
