"""Every pytest option of ours: one group, one ``--dj-`` prefix, mapped onto `Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deltajudge.errors import ConfigError


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("deltajudge", "deltajudge: LLM-judged delta evaluations")
    add = group.addoption
    add("--dj-config", metavar="FILE", help="config file (deltajudge.toml or a pyproject.toml)")
    add(
        "--dj-model",
        action="append",
        default=[],
        metavar="ALIAS=MODEL",
        help="set one alias's model id for this run, e.g. candidate=ft:gpt-4.1-mini:org::abc",
    )
    add(
        "--dj-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. models.judge.base_url=http://127.0.0.1:8000/v1",
    )
    add("--dj-report-dir", metavar="DIR", help="where report.json/html and summary.md go")
    add("--dj-cache-dir", metavar="DIR", help="where the SQLite answer cache lives")
    add("--dj-no-cache", action="store_true", help="neither read nor write the answer cache")
    add(
        "--dj-offline",
        action="store_true",
        help="replay answers from the cache only; any call it cannot answer fails",
    )
    add("--dj-concurrency", type=int, metavar="N", help="requests in flight per endpoint")
    add("--dj-no-progress", action="store_true", help="no progress line while the engine runs")
    add("--dj-baseline", metavar="REPORT", help="compare with an accepted report.json")
    add(
        "--dj-update-baseline",
        action="store_true",
        help="write this run's report as the accepted baseline (see --dj-baseline)",
    )


def overrides(config: pytest.Config) -> dict[str, Any]:
    """Command-line values as dotted settings keys; the latest source wins."""
    from deltajudge.settings import parse_assignment

    out: dict[str, Any] = {}
    for text in config.getoption("dj_model"):
        alias, value = parse_assignment(text, "--dj-model")
        out[f"models.{alias}.model"] = str(value)
    for text in config.getoption("dj_set"):
        key, value = parse_assignment(text, "--dj-set")
        out[key] = value
    simple = {
        "report_dir": config.getoption("dj_report_dir"),
        "cache_dir": config.getoption("dj_cache_dir"),
        "concurrency": config.getoption("dj_concurrency"),
        "baseline": config.getoption("dj_baseline"),
    }
    out.update({k: v for k, v in simple.items() if v is not None})
    if config.getoption("dj_no_cache"):
        out["cache"] = False
    if config.getoption("dj_offline"):
        out["offline"] = True
    if config.getoption("dj_update_baseline"):
        out["update_baseline"] = True
    if config.getoption("dj_no_progress"):
        out["progress"] = False
    return out


def config_file(config: pytest.Config) -> Path | None:
    value = config.getoption("dj_config")
    return Path(value) if value else None


def check(config: pytest.Config) -> None:
    """Mistakes in our options are usage errors, found before collection starts."""
    check_exclusive(config)
    if config.getoption("dj_model") or config.getoption("dj_set"):
        try:
            overrides(config)
        except ConfigError as exc:
            raise pytest.UsageError(exc.render()) from None


def check_exclusive(config: pytest.Config) -> None:
    if config.getoption("dj_offline") and config.getoption("dj_no_cache"):
        raise pytest.UsageError(
            str(
                ConfigError(
                    "--dj-offline replays from the cache, so it cannot go with --dj-no-cache"
                )
            )
        )
