"""Every pytest option of ours: one group, one ``--dj-`` prefix, mapped onto `Settings`.

`OPTIONS` is the one table: pytest gets ``--dj-<name>`` from it and ``deltajudge run``
gets ``--<name>`` from it, so the two spellings never drift apart.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from deltajudge.errors import ConfigError

if TYPE_CHECKING:
    from deltajudge.shards import Shard

Kind = Literal["value", "int", "append", "switch"]


@dataclass(frozen=True)
class Option:
    """One option: ``--dj-<name>`` for pytest, ``--<name>`` for ``deltajudge run``."""

    name: str
    help: str
    kind: Kind = "value"
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return "dj_" + self.name.replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        return f"--dj-{self.name}"

    def argparse_kwargs(self) -> dict[str, Any]:
        if self.kind == "switch":
            return {"action": "store_true", "help": self.help}
        kwargs: dict[str, Any] = {"metavar": self.metavar, "help": self.help}
        if self.kind == "int":
            kwargs["type"] = int
        if self.kind == "append":
            kwargs.update(action="append", default=[])
        return kwargs


OPTIONS: tuple[Option, ...] = (
    Option(
        "config", "config file (default: deltajudge.toml, else pyproject.toml)", "value", "FILE"
    ),
    Option(
        "model",
        "set one alias's model id, e.g. candidate=ft:gpt-4.1-mini:org::abc (repeatable)",
        "append",
        "ALIAS=MODEL",
    ),
    Option(
        "set",
        "override any config key, e.g. models.judge.base_url=http://127.0.0.1:8000/v1",
        "append",
        "KEY=VALUE",
    ),
    Option("limit", "evaluate a seeded random subset of N cases per rubric", "int", "N"),
    Option(
        "case-items",
        "the most per-case items a rubric gets; above, items of N consecutive cases (default 2000)",
        "int",
        "N",
    ),
    Option(
        "shard",
        "evaluate shard K of N (a stable 1/N of each rubric's cases); gates are decided "
        "by `deltajudge merge`",
        "value",
        "K/N",
    ),
    Option("report-dir", "where report.json/html and summary.md go", "value", "DIR"),
    Option(
        "report-url",
        "where report.html is published (a URL, or a CI artifact name): summary.md links it",
        "value",
        "URL",
    ),
    Option("cache-dir", "where the SQLite answer cache lives", "value", "DIR"),
    Option("no-cache", "neither read nor write the answer cache", "switch"),
    Option(
        "offline", "replay answers from the cache only; a call it cannot answer fails", "switch"
    ),
    Option("concurrency", "requests in flight per endpoint", "int", "N"),
    Option(
        "max-cost",
        "refuse a run estimated above this many USD; stop starting cases once spent",
        "value",
        "USD",
    ),
    Option("no-progress", "no progress line while the engine runs", "switch"),
    Option("baseline", "gate against an accepted report.json", "value", "REPORT"),
    Option("update-baseline", "accept this run as the baseline (needs a full run)", "switch"),
    Option(
        "force-baseline",
        "accept the baseline even from a partial run (-k, deselected items, a limit)",
        "switch",
    ),
    Option(
        "training-file",
        "a fine-tuning file the candidates saw: eval prompts found in it are listed (repeatable)",
        "append",
        "FILE",
    ),
    Option(
        "batch",
        "submit (uncached requests go to the Batch API, half price) or collect",
        "value",
        "MODE",
    ),
)

#: Internal: ``deltajudge run`` names the folder to collect when the user names none.
DEFAULT_PATH_OPTION = "--dj-default-path"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("deltajudge", "deltajudge: LLM-judged delta evaluations")
    for option in OPTIONS:
        group.addoption(option.pytest_flag, dest=option.dest, **option.argparse_kwargs())
    group.addoption(DEFAULT_PATH_OPTION, dest="dj_default_path", help=argparse.SUPPRESS)


def typed_prefix(config: pytest.Config) -> str:
    """Our options as the user typed them: `deltajudge run` drops the ``dj-`` prefix."""
    return "--" if config.getoption("dj_default_path") else "--dj-"


def overrides(config: pytest.Config) -> dict[str, Any]:
    """Command-line values as dotted settings keys; the latest source wins."""
    from deltajudge.settings import parse_assignment

    out: dict[str, Any] = {}
    prefix = typed_prefix(config)
    for text in config.getoption("dj_model"):
        alias, value = parse_assignment(
            text,
            f"{prefix}model",
            shape="ALIAS=MODEL",
            example="candidate=ft:gpt-4.1-mini:org::abc",
        )
        out[f"models.{alias}.model"] = str(value)
    for text in config.getoption("dj_set"):
        key, value = parse_assignment(text, f"{prefix}set")
        out[key] = value
    simple = {
        "report_dir": config.getoption("dj_report_dir"),
        "report_url": config.getoption("dj_report_url"),
        "cache_dir": config.getoption("dj_cache_dir"),
        "concurrency": config.getoption("dj_concurrency"),
        "max_cost": config.getoption("dj_max_cost"),
        "baseline": config.getoption("dj_baseline"),
        "limit": config.getoption("dj_limit"),
        "case_items": config.getoption("dj_case_items"),
        "batch": config.getoption("dj_batch"),
    }
    out.update({k: v for k, v in simple.items() if v is not None})
    if config.getoption("dj_training_file"):
        out["training_files"] = list(config.getoption("dj_training_file"))
    switches = {
        "dj_no_cache": ("cache", False),
        "dj_offline": ("offline", True),
        "dj_update_baseline": ("update_baseline", True),
        "dj_force_baseline": ("force_baseline", True),
        "dj_no_progress": ("progress", False),
    }
    out.update({key: value for dest, (key, value) in switches.items() if config.getoption(dest)})
    return out


def shard(config: pytest.Config) -> Shard | None:
    """``--dj-shard K/N``, checked: a malformed or out-of-range value is a usage error."""
    value = config.getoption("dj_shard")
    if value is None:
        return None
    from deltajudge.shards import parse_shard  # here: most runs are not sharded

    try:
        return parse_shard(value, option=f"{typed_prefix(config)}shard")
    except ConfigError as exc:
        raise pytest.UsageError(exc.render()) from None


def config_file(config: pytest.Config) -> Path | None:
    value = config.getoption("dj_config")
    return Path(value) if value else None


#: Options whose value is a path: given as a separate word, pytest may take it for a test path.
PATH_OPTIONS = ("config", "report-dir", "cache-dir", "baseline", "training-file")


def check(config: pytest.Config) -> None:
    """Mistakes in our options are usage errors, found before collection starts."""
    check_exclusive(config)
    check_path_values(config)
    flag = typed_prefix(config)
    limit = config.getoption("dj_limit")
    if limit is not None and limit < 1:
        raise pytest.UsageError(f"{flag}limit expects a number of cases >= 1 (got {limit})")
    case_items = config.getoption("dj_case_items")
    if case_items is not None and case_items < 1:
        raise pytest.UsageError(
            f"{flag}case-items expects a number of cases >= 1 (got {case_items})"
        )
    if config.getoption("dj_shard") is not None:
        shard(config)
        if _under_xdist(config):
            raise pytest.UsageError(
                "--dj-shard K/N cannot go with pytest-xdist's -n: under -n each worker "
                "already evaluates a shard of its own\nHint: drop -n on a shard machine, or "
                "drop --dj-shard and let -n split the cases"
            )
    batch = config.getoption("dj_batch")
    if batch is not None and batch not in ("submit", "collect"):
        raise pytest.UsageError(f"{flag}batch expects submit or collect (got {batch!r})")
    if batch is not None and _under_xdist(config):
        raise pytest.UsageError(
            "--dj-batch cannot go with pytest-xdist's -n: a batch is submitted and collected "
            "by one process\nHint: drop -n (the provider runs the batch, not this machine); "
            "--dj-shard K/N splits a batch suite across CI machines"
        )
    if config.getoption("dj_model") or config.getoption("dj_set"):
        try:
            overrides(config)
        except ConfigError as exc:
            raise pytest.UsageError(exc.render()) from None


def _under_xdist(config: pytest.Config) -> bool:
    """The controller of a ``-n`` run (workers inherit the options it already checked)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def check_exclusive(config: pytest.Config) -> None:
    if config.getoption("dj_offline") and config.getoption("dj_no_cache"):
        raise pytest.UsageError(
            str(
                ConfigError(
                    "--dj-offline replays from the cache, so it cannot go with --dj-no-cache"
                )
            )
        )


def check_path_values(config: pytest.Config) -> None:
    """``--dj-report-dir /abs/out`` (two words) moves pytest's rootdir once ``/abs/out``
    exists: pytest picks the rootdir from the existing paths on its command line before it
    knows our options, and the config, reports and cache then resolve against the wrong
    folder. Refuse it with the spelling that works instead of running somewhere else."""
    args = list(config.invocation_params.args)
    here = config.invocation_params.dir
    flags = {f"--dj-{name}" for name in PATH_OPTIONS}
    for flag, value in itertools.pairwise(args):
        if flag not in flags:
            continue
        path = (here / value).resolve()
        if path.exists() and not path.is_relative_to(here.resolve()):
            raise pytest.UsageError(
                f"{flag} {value}: a path outside this folder, given as a separate word, is "
                f"taken by pytest for a test path when it picks the project root (it picked "
                f"{config.rootpath})\nHint: write {flag}={value}, or use `deltajudge run`"
            )
