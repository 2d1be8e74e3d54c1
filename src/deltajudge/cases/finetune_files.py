"""Fine-tuning files (OpenAI / Foundry SFT and preference JSONL, TRL prompt/chosen/rejected),
read into one shape and checked before a job is paid for.

A fine-tuning job rejects a bad file after upload, or worse, trains on it: a pair whose
answers are equal teaches nothing, a duplicate row weighs twice, a chat with no user
turn teaches the model to talk to itself. `validate_file` lists every such row as
``path:line: reason`` so a job command (and ``deltajudge data validate``) can refuse it.

Formats:

* ``openai-sft``: ``{"messages": [..., {"role": "assistant", ...}]}``
* ``openai-preference``: ``{"input": {"messages": [...]}, "preferred_output": [...],
  "non_preferred_output": [...]}``
* ``trl-preference``: ``{"prompt", "chosen", "rejected"}``, either strings (TRL's
  "standard" form) or message lists (its "conversational" form).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deltajudge.errors import DatasetError

Format = Literal["openai-sft", "openai-preference", "trl-preference"]
FORMATS: tuple[Format, ...] = ("openai-sft", "openai-preference", "trl-preference")

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
#: A row longer than this is flagged: it is probably a paste accident, and it is cut at
#: the model's context length in training. No tokenizer is downloaded to count tokens.
MAX_ROW_CHARS = 65_536
#: OpenAI refuses fine-tuning files with fewer examples.
MIN_ROWS = 10

Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, at a line (``line`` None: the whole file)."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


@dataclass
class Row:
    """A training example in one shape, whatever file it came from.

    ``prompt`` is what the model is shown; ``chosen`` the answer to learn (the SFT target,
    the preferred output); ``rejected`` the non-preferred output of a pair.
    ``standard`` records that a TRL row was plain strings, so it converts back as such.
    """

    line: int
    prompt: Messages
    chosen: Messages
    rejected: Messages | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    standard: bool = False
    raw: str = ""

    @property
    def prompt_key(self) -> str:
        """Identifies a prompt across rows: what a split must not put in two places."""
        canonical = json.dumps(self.prompt, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def detect_format(row: dict[str, Any]) -> Format | None:
    if "preferred_output" in row or "non_preferred_output" in row:
        return "openai-preference"
    if {"prompt", "chosen", "rejected"} <= row.keys():
        return "trl-preference"
    if "messages" in row:
        return "openai-sft"
    return None


def text_of(content: Any) -> str:
    from deltajudge.cases.case import content_text

    return content_text(content)


def _messages(value: Any, where: str) -> Messages:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: expected a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message:
            raise ValueError(f"{where}[{index}]: expected an object with role and content")
    return value


def parse_row(row: dict[str, Any], fmt: Format, line: int, raw: str = "") -> Row:
    """The row in one shape; `ValueError` when its structure is not the format's."""
    if fmt == "openai-sft":
        messages = _messages(row["messages"], "messages")
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is None:
            raise ValueError("messages: no assistant turn to learn from")
        extra = {k: v for k, v in row.items() if k != "messages"}
        return Row(line, messages[:last], messages[last:], None, extra, raw=raw)
    if fmt == "openai-preference":
        if not isinstance(row.get("input"), dict):
            raise ValueError("input: expected an object with messages")
        prompt = _messages(row["input"].get("messages"), "input.messages")
        chosen = _messages(row.get("preferred_output"), "preferred_output")
        rejected = _messages(row.get("non_preferred_output"), "non_preferred_output")
        extra = {
            k: v for k, v in row.items() if k not in ("preferred_output", "non_preferred_output")
        }
        extra["input"] = {k: v for k, v in row["input"].items() if k != "messages"}
        if not extra["input"]:
            del extra["input"]
        return Row(line, prompt, chosen, rejected, extra, raw=raw)
    values = [row["prompt"], row["chosen"], row["rejected"]]
    extra = {k: v for k, v in row.items() if k not in ("prompt", "chosen", "rejected")}
    if all(isinstance(v, str) for v in values):
        prompt, chosen, rejected = values
        return Row(
            line,
            [{"role": "user", "content": prompt}],
            [{"role": "assistant", "content": chosen}],
            [{"role": "assistant", "content": rejected}],
            extra,
            standard=True,
            raw=raw,
        )
    return Row(
        line,
        _messages(row["prompt"], "prompt"),
        _messages(row["chosen"], "chosen"),
        _messages(row["rejected"], "rejected"),
        extra,
        raw=raw,
    )


def read_rows(path: Path) -> tuple[Format, list[Row], list[Problem]]:
    """Every row that parses, the file's format, and the lines that do not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text ({exc.reason})", path=path) from None
    fmt: Format | None = None
    rows: list[Row] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(path, number, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(path, number, "expected a JSON object per line"))
            continue
        found = detect_format(data)
        if found is None:
            problems.append(
                Problem(
                    path,
                    number,
                    "not an SFT row ({messages}), an OpenAI "
                    "preference row or a TRL prompt/chosen/rejected row",
                )
            )
            continue
        fmt = fmt or found
        if found != fmt:
            problems.append(Problem(path, number, f"a {found} row in a {fmt} file"))
            continue
        try:
            rows.append(parse_row(data, fmt, number, line))
        except ValueError as exc:
            problems.append(Problem(path, number, str(exc)))
    if fmt is None:
        first = problems[0] if problems else None
        raise DatasetError(
            f"no training rows found: {first.message}" if first else "no training rows found",
            path=path,
            line=first.line if first else None,
            hint='one JSON object a line: an SFT row {"messages": [...]}, an OpenAI preference '
            'row {"input": {"messages": [...]}, "preferred_output": [...], '
            '"non_preferred_output": [...]}, or a TRL row {"prompt", "chosen", "rejected"}',
        )
    return fmt, rows, problems


def validate_file(path: Path, *, max_chars: int = MAX_ROW_CHARS) -> list[Problem]:
    """Every problem in a fine-tuning file, in line order; an empty list means it is fine."""
    fmt, rows, problems = read_rows(path)
    seen: dict[str, int] = {}
    for row in rows:
        problems += [Problem(path, row.line, m) for m in _row_problems(row, fmt, max_chars)]
        if row.standard != rows[0].standard:  # TRL reads one form per data set
            forms = ("conversational", "standard")
            problems.append(
                Problem(
                    path,
                    row.line,
                    f"a {forms[row.standard]} TRL row in a file of {forms[rows[0].standard]} rows",
                )
            )
        digest = hashlib.sha256(
            json.dumps(json.loads(row.raw), sort_keys=True).encode()
        ).hexdigest()
        if digest in seen:
            problems.append(Problem(path, row.line, f"duplicate of line {seen[digest]}"))
        seen.setdefault(digest, row.line)
    if 0 < len(rows) < MIN_ROWS:
        problems.append(
            Problem(path, None, f"{len(rows)} rows; OpenAI fine-tuning needs at least {MIN_ROWS}")
        )
    return sorted(problems, key=lambda p: (p.line or 0, p.message))


def _row_problems(row: Row, fmt: Format, max_chars: int) -> Iterator[str]:
    prefix = {
        "openai-sft": ("messages", "messages", None),
        "openai-preference": ("input.messages", "preferred_output", "non_preferred_output"),
        "trl-preference": ("prompt", "chosen", "rejected"),
    }[fmt]
    offset = len(row.prompt) if fmt == "openai-sft" else 0
    parts = [(prefix[0], 0, row.prompt), (prefix[1], offset, row.chosen)]
    if row.rejected is not None:
        parts.append((str(prefix[2]), 0, row.rejected))
    for name, start, messages in parts:
        for index, message in enumerate(messages, start=start):
            role = message.get("role")
            if role not in ROLES:
                yield (
                    f"{name}[{index}].role: unknown role {role!r} (expected one of "
                    f"{', '.join(sorted(ROLES))})"
                )
            if not text_of(message.get("content")).strip() and not message.get("tool_calls"):
                yield f"{name}[{index}].content: empty"
    if not any(m.get("role") == "user" for m in row.prompt):
        yield f"{prefix[0]}: no user turn"
    if fmt != "openai-sft":
        for name, answer in ((prefix[1], row.chosen), (str(prefix[2]), row.rejected or [])):
            if any(m.get("role") != "assistant" for m in answer):
                yield f"{name}: every message must be the assistant's"
        if _answer_text(row.chosen) == _answer_text(row.rejected or []):
            yield f"{prefix[1]} and {prefix[2]} are the same answer"
    size = len(row.raw)
    if size > max_chars:
        yield f"row is {size:,} characters (more than {max_chars:,}): cut at the context length"


def _answer_text(messages: Messages) -> str:
    return "\n".join(text_of(m.get("content")).strip() for m in messages)
