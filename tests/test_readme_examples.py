"""The README's examples are what a new user pastes first: every TOML block must be a valid
configuration, the full rubric example a valid rubric, and the option and key tables must
name every option and config key that exists. A manual that drifts from the product fails
here instead of in someone's first hour."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from deltajudge.judging.rubric import parse_rubric
from deltajudge.pytest_plugin.options import OPTIONS
from deltajudge.settings import ModelConfig, Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
TOML_BLOCKS = re.findall(r"```toml\n(.*?)```", README, re.DOTALL)


def _config_table(text: str) -> dict[str, Any]:
    data = tomllib.loads(text)
    table: dict[str, Any] = data.get("tool", {}).get("deltajudge", data)
    return table


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[b.splitlines()[0][:40] for b in TOML_BLOCKS])
def test_every_toml_example_is_a_valid_config(block: str) -> None:
    Settings.model_validate(_config_table(block))


def test_the_rubric_example_is_a_valid_rubric() -> None:
    section = README.split("## Rubric files", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]

    rubric, _ = parse_rubric(block, Path("rubrics/good_vibes_tone.yaml"))

    assert [g.name for g in rubric.graders] == ["tone"] and len(rubric.gates) == 3


def _table_cells(heading: str) -> str:
    """The text of the tables right under a heading (up to the next heading)."""
    section = README.split(heading, 1)[1]
    return re.split(r"\n#{2,4} ", section, maxsplit=1)[0]


def test_the_run_options_table_names_every_option() -> None:
    table = _table_cells("### `deltajudge run` and pytest options")

    missing = [o.name for o in OPTIONS if f"`--{o.name}" not in table]

    assert missing == []


@pytest.mark.parametrize(
    ("model", "first_table"),
    [(Settings, "| top-level key |"), (ModelConfig, "| model key |")],
)
def test_the_configuration_tables_name_every_key(model: type[Any], first_table: str) -> None:
    section = _table_cells("## Configuration")
    table = section.split(first_table, 1)[1].split("\n\n", 1)[0]
    internal = {"job"}  # filled in from `model = "ftjob:..."`, refused in a config file

    named = [k for k in model.model_fields if f"`{k}`" in table or f"`{k}.<" in table]
    missing = [k for k in model.model_fields if k not in internal and k not in named]

    assert missing == []
