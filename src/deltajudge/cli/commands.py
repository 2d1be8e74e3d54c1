"""The commands beyond run/report/diff, registered in one call so the parser stays small."""

from __future__ import annotations

from typing import Any

from deltajudge.cli import data, evals_io, record, validate_judge


def add_commands(commands: Any) -> None:
    """Each command sets ``handler``: ``main`` calls it with the parsed namespace."""
    evals_io.add_commands(commands)
    data.add_commands(commands)
    record.add_commands(commands)
    validate_judge.add_commands(commands)
