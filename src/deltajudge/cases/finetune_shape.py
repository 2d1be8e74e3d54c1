"""Is this JSONL the shape the chosen fine-tuning method trains on? Checked before upload.

A job that gets the wrong file fails minutes later on the provider's side (or trains on
nonsense), after the upload is paid for; a row with the wrong shape is cheaper to name
here as ``path:line: reason``. The data tools' own check (`validate_file`, what
``deltajudge data validate`` runs: duplicates, equal answers, row counts) runs too on
SFT and preference files; this module adds what only the chosen method tells: whether
the file is the shape that method trains on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from deltajudge.cases.finetune_files import validate_file
from deltajudge.errors import UserInputError

Method = Literal["sft", "dpo", "reinforcement"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_ROLE_LIST = ", ".join(sorted(ROLES))
SHAPES: dict[Method, str] = {
    "sft": '{"messages": [..., {"role": "assistant", "content": ...}]}',
    "dpo": '{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}], '
    '"non_preferred_output": [{"role": "assistant", ...}]}',
    "reinforcement": '{"messages": [..., {"role": "user", ...}], ...fields the grader reads}',
}


def check_file(path: Path, method: Method) -> list[str]:
    """Every problem as ``path:line: reason``; an empty list means the file may be uploaded."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    problems: list[str] = []
    rows = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        rows += 1
        problems += [f"{path}:{number}: {reason}" for reason in _row_problems(line, method)]
    if rows == 0:
        problems.append(f"{path}: no rows; expected one JSON object a line: {SHAPES[method]}")
    if method == "reinforcement":  # the data tools know SFT and preference rows only
        return problems
    return problems + _data_tools_problems(path)


def _row_problems(line: str, method: Method) -> Iterator[str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        yield f"not JSON ({exc.msg} at column {exc.colno})"
        return
    if not isinstance(row, dict):
        yield f"expected a JSON object: {SHAPES[method]}"
        return
    if method == "dpo":
        yield from _preference_problems(row)
        return
    if "messages" not in row:
        hint = " (this looks like a preference pair: use --method dpo)" if "input" in row else ""
        yield f"missing 'messages'; expected {SHAPES[method]}{hint}"
        return
    messages = row["messages"]
    yield from _messages_problems(messages, "messages")
    roles = (
        [m.get("role") for m in messages if isinstance(m, dict)]
        if isinstance(messages, list)
        else []
    )
    if method == "sft" and "assistant" not in roles:
        yield "messages: no assistant message to learn from"
    if method == "reinforcement" and "user" not in roles:
        yield "messages: no user message for the model to answer"


def _preference_problems(row: dict[str, Any]) -> Iterator[str]:
    missing = [k for k in ("input", "preferred_output", "non_preferred_output") if k not in row]
    if missing:
        hint = " (this looks like an SFT row: use --method sft)" if "messages" in row else ""
        yield f"missing {', '.join(repr(k) for k in missing)}; expected {SHAPES['dpo']}{hint}"
        return
    prompt = row["input"]
    if not isinstance(prompt, dict) or "messages" not in prompt:
        yield 'input: expected {"messages": [...]}'
    else:
        yield from _messages_problems(prompt["messages"], "input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        yield from _messages_problems(row[key], key)
        output = row[key]
        if isinstance(output, list) and any(
            isinstance(m, dict) and m.get("role") != "assistant" for m in output
        ):
            yield f"{key}: every message must have role 'assistant'"
    if row["preferred_output"] == row["non_preferred_output"]:
        yield "preferred_output equals non_preferred_output: the pair teaches nothing"


def _messages_problems(messages: object, where: str) -> Iterator[str]:
    if not isinstance(messages, list) or not messages:
        yield f"{where}: expected a non-empty list of messages"
        return
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            yield f"{where}[{index}]: expected an object with 'role' and 'content'"
            continue
        role = message.get("role")
        if role not in ROLES:
            yield f"{where}[{index}].role: expected one of {_ROLE_LIST} (got {role!r})"
        if "content" not in message and "tool_calls" not in message:
            yield f"{where}[{index}]: missing 'content'"


def _data_tools_problems(path: Path) -> list[str]:
    """``deltajudge data validate``'s checks: duplicates, equal answers, the row count."""
    try:
        return [str(problem) for problem in validate_file(path)]
    except UserInputError as exc:  # a file it cannot read at all: one problem, not a crash
        return [str(exc).splitlines()[0]]
