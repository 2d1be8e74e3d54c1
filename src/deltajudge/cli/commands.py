"""The commands beyond run/report/diff, as one table: name -> (help, arguments, handle).

The table has the shape of a command registry so that it can join the CLI's own with
one line; `add_commands` registers it on an argparse subparsers object meanwhile. Each
module's ``arguments`` sets ``handler`` on its leaf parsers; `handle` calls it. Importing
this stays cheap: the command modules import their libraries when they run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from deltajudge.cli import data, evals_io, finetune, probe, record, validate_judge

Arguments = Callable[[argparse.ArgumentParser], None]
Handle = Callable[[argparse.Namespace], int]


def handle(ns: argparse.Namespace) -> int:
    return int(ns.handler(ns))


COMMANDS: dict[str, tuple[str, Arguments, Handle]] = {
    "import": ("import an OpenAI Evals definition as a rubric", evals_io.import_arguments, handle),
    "export": ("export a rubric's graders for OpenAI/Azure", evals_io.export_arguments, handle),
    "data": ("validate, split, convert, describe training files", data.arguments, handle),
    "record": ("record an alias's answers to a rubric's prompts", record.arguments, handle),
    "finetune": ("fine-tuning jobs on Azure / Foundry or OpenAI", finetune.arguments, handle),
    "validate-judge": (
        "agreement of a rubric's judge with labelled preference pairs",
        validate_judge.arguments,
        handle,
    ),
    "probe": ("probe a rubric's judges: do hostile answers move them?", probe.arguments, handle),
}


def add_commands(commands: Any) -> None:
    """Register every command of `COMMANDS` on the top-level subparsers."""
    for name, (text, arguments, _handle) in COMMANDS.items():
        arguments(commands.add_parser(name, help=text))
