"""``deltajudge record ALIAS --rubric R --out recordings/NAME.jsonl``: freeze a model's answers.

The recording is the baseline that outlives the model: later runs name it with an alias
``provider = "recorded"``, ``path = "recordings/NAME.jsonl"`` and never call the API.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deltajudge.errors import ConfigError

if TYPE_CHECKING:
    from deltajudge.cases import Case
    from deltajudge.generation.recorder import RecordOutcome
    from deltajudge.settings import ModelConfig, Settings


def arguments(rec: argparse.ArgumentParser) -> None:
    rec.add_argument("alias", help="the model alias to record (e.g. the retiring fine-tune)")
    rec.add_argument("--rubric", type=Path, required=True, help="whose data set to ask")
    rec.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the recording to write (JSONL)"
    )
    rec.add_argument("--samples", type=int, default=1, metavar="K", help="answers per case")
    rec.add_argument(
        "--config", type=Path, metavar="FILE", help="default: deltajudge.toml, else pyproject.toml"
    )
    rec.set_defaults(handler=run_record)


def run_record(ns: argparse.Namespace) -> int:
    import asyncio

    from deltajudge.generation.models import resolve_models
    from deltajudge.judging.loading import load_rubric
    from deltajudge.settings import load_settings

    if ns.samples < 1:
        raise ConfigError(f"--samples: expected at least 1 (got {ns.samples})")
    loaded = load_rubric(ns.rubric)
    rootdir = Path.cwd()
    settings = load_settings(rootdir, config_file=ns.config)
    models = resolve_models(settings, [ns.alias], os.environ)
    if models[ns.alias].provider == "recorded":
        raise ConfigError(f"{ns.alias!r} already answers from a recording; record the model")
    outcome = asyncio.run(_record(ns, loaded.cases, loaded.name, models, settings, rootdir))
    for case_id, error in outcome.failures:
        print(f"case {case_id}: {error}", file=sys.stderr)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    partial = ns.out.with_name(ns.out.name + ".partial")
    partial.write_text("".join(a.to_line() + "\n" for a in outcome.answers), encoding="utf-8")
    partial.replace(ns.out)  # a reader never sees half a recording
    cases = len({a.case_id for a in outcome.answers})
    print(
        f"wrote {ns.out}: {len(outcome.answers)} answers to {cases} cases from "
        f"{ns.alias} ({models[ns.alias].model})"
    )
    return 1 if outcome.failures else 0


async def _record(
    ns: argparse.Namespace,
    cases: Sequence[Case],
    rubric: str,
    models: Mapping[str, ModelConfig],
    settings: Settings,
    rootdir: Path,
) -> RecordOutcome:
    from deltajudge.engine import open_caller
    from deltajudge.generation.recorder import record

    async with open_caller(models, settings, rootdir) as caller:
        return await record(caller, ns.alias, cases, ns.samples, rubric)
