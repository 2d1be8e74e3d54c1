"""Read JSONL data sets into cases, detecting the row shape once per file.

Four shapes: three as OpenAI's fine-tuning guides write them, and MT-Bench's turns:

* preference (DPO): ``{"input": {"messages": [...]}, "preferred_output": [...],
  "non_preferred_output": [...]}``: the preferred answer is the reference;
* chat (SFT): ``{"messages": [...]}``: the last assistant turn is the reference and is
  not sent to the model;
* plain prompts: ``{"id"?, "input": "text"}`` or ``{"prompt": "text"}``;
* multi-turn (MT-Bench's question.jsonl): ``{"id"?, "turns": ["first", "second"],
  "system"?: "...", "reference"?: [...]}``: each turn is asked after the answer to the
  one before.

Every malformed line is an error with ``path:line``; nothing is silently skipped,
because a silently shorter test set is a different test set.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from deltajudge.cases.case import Case, Message, content_text, stable_id
from deltajudge.cases.json_rows import parse_row
from deltajudge.errors import DatasetError

Shape = Literal["preference", "chat", "prompt", "turns"]

_SHAPE_HELP = {
    "preference": '{"input": {"messages": [...]}, "preferred_output": [...], '
    '"non_preferred_output": [...]}',
    "chat": '{"messages": [..., {"role": "assistant", "content": "reference"}]}',
    "prompt": '{"id": "optional", "input": "text"} or {"prompt": "text"}',
    "turns": '{"id": "optional", "turns": ["first user turn", "second user turn"]}',
}


def detect_shape(row: dict[str, Any]) -> Shape | None:
    if isinstance(row.get("input"), dict) and "preferred_output" in row:
        return "preference"
    if "messages" in row:
        return "chat"
    if "turns" in row:
        return "turns"
    if isinstance(row.get("input"), str) or isinstance(row.get("prompt"), str):
        return "prompt"
    return None


_ROLES = {role: role for role in ("system", "developer", "user", "assistant", "tool")}


def _messages(raw: Any, where: str) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: expected a non-empty list of messages")
    out = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"{where}[{index}]: expected an object with 'role' and 'content'")
        role = message["role"]
        if role not in _ROLES:
            raise ValueError(f"{where}[{index}].role: unknown role {role!r}")
        role = message["role"] = _ROLES[role]  # one str per role, not one per message
        content = message.get("content")
        if not _is_text(content):
            raise ValueError(
                f"{where}[{index}].content: expected text (a string or a list of "
                f"{{'type': 'text', 'text': ...}} parts), got {_describe(content)}"
            )
        out.append(Message(role=role, content=content_text(content)))
    return tuple(out)


def _is_text(content: Any) -> bool:
    """A string, or OpenAI's list of typed parts that are all text (images are not)."""
    if isinstance(content, str):
        return True
    return (
        isinstance(content, list)
        and bool(content)
        and all(
            isinstance(part, str)
            or (
                isinstance(part, dict)
                and part.get("type", "text") in ("text", "input_text", "output_text")
                and isinstance(part.get("text"), str)
            )
            for part in content
        )
    )


def _describe(value: Any) -> str:
    """What a wrong value is, in the words of the error: ``a list of image_url parts``."""
    if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
        return f"a list of {', '.join(sorted({str(p.get('type')) for p in value}))} parts"
    if isinstance(value, list | dict):
        return (
            f"a{'n empty' if not value else ''} {'list' if isinstance(value, list) else 'object'}"
        )
    return "nothing" if value is None else f"{type(value).__name__} {json.dumps(value)[:40]}"


def _require_user_turn(messages: tuple[Message, ...], where: str) -> None:
    """A model asked only a system prompt answers nothing in particular: not a test case."""
    if not any(m.role == "user" for m in messages):
        raise ValueError(f"{where}: needs at least one user turn to ask the model")


def _answer(raw: Any, where: str) -> str:
    messages = _messages(raw, where)
    return messages[-1].content


def _preference(row: dict[str, Any]) -> tuple[tuple[Message, ...], str | None, str | None]:
    messages = _messages(row["input"].get("messages"), "input.messages")
    _require_user_turn(messages, "input.messages")
    preferred = _answer(row["preferred_output"], "preferred_output")
    rejected = (
        _answer(row["non_preferred_output"], "non_preferred_output")
        if "non_preferred_output" in row
        else None
    )
    return messages, preferred, rejected


def _chat(row: dict[str, Any]) -> tuple[tuple[Message, ...], str | None, str | None]:
    messages = _messages(row["messages"], "messages")
    if messages[-1].role == "assistant":
        if len(messages) == 1:
            raise ValueError("messages: needs a user turn before the assistant's reference")
        _require_user_turn(messages[:-1], "messages")
        return messages[:-1], messages[-1].content, None
    _require_user_turn(messages, "messages")
    return messages, None, None


def _prompt(row: dict[str, Any]) -> tuple[tuple[Message, ...], str | None, str | None]:
    text = row.get("input", row.get("prompt"))
    if not isinstance(text, str) or not text.strip():
        raise ValueError("expected 'input' or 'prompt' to be a non-empty string")
    reference = row.get("reference", row.get("ideal"))
    return (Message("user", text),), reference if isinstance(reference, str) else None, None


def _turns(row: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Message, ...], str | None]:
    turns = row["turns"]
    if not isinstance(turns, list) or not turns:
        raise ValueError("turns: expected a non-empty list of user turns (strings)")
    for index, turn in enumerate(turns):
        if not isinstance(turn, str) or not turn.strip():
            raise ValueError(f"turns[{index}]: expected a non-empty string")
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise ValueError("system: expected a string")
    messages = (*((Message("system", system),) if system else ()), Message("user", turns[0]))
    reference = row.get("reference")
    return tuple(turns[1:]), messages, reference if isinstance(reference, str) else None


_PARSERS: dict[Shape, Callable[[dict[str, Any]], Any]] = {
    "preference": _preference,
    "chat": _chat,
    "prompt": _prompt,
}


def load_dataset(path: Path) -> list[Case]:
    """Every row of ``path`` as a `Case`, or a `DatasetError` at the first bad line."""
    enabled = gc.isenabled()
    gc.disable()  # rows make no reference cycles; at 100,000 rows the collector's passes cost ~15%
    try:
        return _load_cases(path)
    finally:
        if enabled:
            gc.enable()


def _load_cases(path: Path) -> list[Case]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is fine
    except FileNotFoundError:
        raise DatasetError("data set file not found", path=path) from None
    except UnicodeDecodeError as exc:
        bad = exc.object[: exc.start].count(b"\n") + 1
        raise DatasetError(f"not UTF-8 text ({exc.reason})", path=path, line=bad) from None
    except OSError as exc:
        raise DatasetError(f"cannot read the data set: {exc.strerror}", path=path) from None
    shape: Shape | None = None
    cases: list[Case] = []
    seen: dict[str, int] = {}
    keys: dict[str, str] = {}
    asked: dict[tuple[tuple[Message, ...], tuple[str, ...]], int] = {}  # what each row asks
    # Rows end at "\n" only: U+2028 and friends are legal inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        row = parse_row(line, path, number)
        # the parser makes new key strings for each row: share one per key name instead
        row = {keys.setdefault(key, key): value for key, value in row.items()}
        if shape is None:
            shape = detect_shape(row)
            if shape is None:
                raise DatasetError(
                    "cannot tell the row format",
                    path=path,
                    line=number,
                    hint="rows must look like one of: " + "; ".join(_SHAPE_HELP.values()),
                )
        case = _case_from_row(row, shape, path, number)
        question = (case.messages, case.followups)
        if row.get("id") is None and case.id in seen and question not in asked:
            # two prompts that start alike: the line number tells them apart
            case = dataclasses.replace(case, id=f"{case.id}-line{number}")
        asked.setdefault(question, number)
        if case.id in seen:
            raise DatasetError(
                f"duplicate case id {case.id!r} (first on line {seen[case.id]})",
                path=path,
                line=number,
                hint="give each row a unique 'id'",
            )
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise DatasetError("data set is empty", path=path, hint="one JSON object per line")
    return cases


#: What a case id may not hold: pytest joins node ids with ``::`` and prints them on one line.
_BAD_ID = re.compile(r"::|[\x00-\x1f\x7f\u2028\u2029]")


def _case_id(raw: Any, path: Path, number: int) -> str | None:
    """The row's own id, checked: it names a pytest item, a report row and a cache key."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise DatasetError(
            f"id: expected a string or an integer, got {_describe(raw)}", path=path, line=number
        )
    text = str(raw)
    if not text.strip():
        raise DatasetError("id: is empty", path=path, line=number, hint="leave `id` out for a hash")
    if _BAD_ID.search(text):
        raise DatasetError(
            f"id: {text!r} holds '::', a line break or a control character",
            path=path,
            line=number,
            hint="pytest node ids are one line and use '::' as their separator",
        )
    return sys.intern(text)  # shared with the recordings and results that name the case


def _case_from_row(row: dict[str, Any], shape: Shape, path: Path, number: int) -> Case:
    if detect_shape(row) != shape:
        raise DatasetError(
            f"row is not a {shape} row like the first row of this file",
            path=path,
            line=number,
            hint=f"expected {_SHAPE_HELP[shape]}",
        )
    followups: tuple[str, ...] = ()
    try:
        if shape == "turns":
            followups, messages, reference = _turns(row)
            rejected = None
        else:
            messages, reference, rejected = _PARSERS[shape](row)
    except (ValueError, AttributeError) as exc:
        raise DatasetError(str(exc), path=path, line=number, hint=_SHAPE_HELP[shape]) from None
    id_key = "id" if "id" in row or shape != "turns" else "question_id"
    case_id = _case_id(row.get(id_key), path, number)
    if case_id is not None and isinstance(row[id_key], str):
        row[id_key] = case_id  # the interned id: the same text, held once
    return Case(
        id=case_id or stable_id((*messages, *(Message("user", t) for t in followups))),
        messages=messages,
        item=row,
        reference=reference,
        rejected=rejected,
        source=path,
        line=number,
        followups=followups,
    )
