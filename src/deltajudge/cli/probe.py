"""``deltajudge probe injection RUBRIC``: send hostile answers through a rubric's real
judges and report how often each verdict moved (see `deltajudge.judging.probe`).

Exit status: 0 when no hostile answer raised a verdict, 1 when one did (so CI can gate a
judge change on it), 2 on a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the library loads when the command runs, keeping `deltajudge -h` cheap
    from deltajudge.judging.loading import LoadedRubric
    from deltajudge.judging.probe import Probe
    from deltajudge.settings import Settings


def arguments(parser: argparse.ArgumentParser) -> None:
    probes = parser.add_subparsers(dest="probe", required=True)
    injection = probes.add_parser("injection", help="do hostile answers move the judge?")
    injection.add_argument("rubric", type=Path, help="the rubric whose judges are probed")
    injection.add_argument(
        "--config", type=Path, metavar="FILE", help="default: deltajudge.toml, else pyproject.toml"
    )
    injection.add_argument("--cases", type=int, default=3, metavar="N", help="rows per grader (3)")
    injection.set_defaults(handler=lambda ns: run_injection(ns.rubric, ns.config, ns.cases))


def run_injection(rubric_path: Path, config: Path | None, cases: int) -> int:
    from deltajudge.judging.loading import load_rubric
    from deltajudge.settings import load_settings

    loaded = load_rubric(rubric_path)
    rootdir = config.parent if config is not None else Path.cwd()
    settings = load_settings(rootdir, config_file=config)
    probes = asyncio.run(_probe(loaded, settings, rootdir, cases))
    print(f"judge-injection probe: {loaded.name} ({rubric_path})")
    print(render(probes))
    return 1 if any(p.raised for p in probes) else 0


async def _probe(
    loaded: LoadedRubric, settings: Settings, rootdir: Path, cases: int
) -> list[Probe]:
    from deltajudge.engine import open_caller
    from deltajudge.generation.models import resolve_models
    from deltajudge.judging.probe import probe_injection

    models = resolve_models(settings, loaded.rubric.judge_aliases(), os.environ)
    async with open_caller(models, settings, rootdir) as caller:
        return await probe_injection(loaded, caller, cases=cases)


def render(probes: Sequence[Probe]) -> str:
    """One row per grader and hostile answer: how many rows moved, were raised, errored."""
    from tabulate import tabulate

    groups: dict[tuple[str, str, str], list[Probe]] = {}
    for p in probes:
        groups.setdefault((p.grader, p.contract, p.hostile), []).append(p)
    rows = [
        [*key, len(g), sum(p.moved for p in g), sum(p.raised for p in g), sum(p.errored for p in g)]
        for key, g in groups.items()
    ]
    table = tabulate(
        rows, headers=["grader", "output", "hostile answer", "rows", "moved", "raised", "errors"]
    )
    moved = sum(p.moved for p in probes)
    raised = sum(p.raised for p in probes)
    errors = sum(p.errored for p in probes)
    total = f"verdict moved in {moved} of {len(probes)} probes, raised in {raised}"
    if errors:  # e.g. a judge that wrote the answer's fake verdict word for word
        total += f"; {errors} could not be compared (grading errors, see the errors column)"
    return f"{table}\n\n{total}" if probes else "no model graders to probe"
