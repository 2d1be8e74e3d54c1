"""The JSON script file for the process form (``python -m deltajudge.testing --script``).

A benchmark or a test that kills clients mid-run starts the server as a separate
process, so its rules come from a file. The file holds only plain values (no
callables); a mistake in it is reported with the key path, like
``script.json: rules[1].reply.status: expected an integer (got "429")``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from deltajudge.errors import UserInputError

from ._rules import Reply, Rule

_RULE_KEYS = {"model": str, "contains": str, "path": str, "judge": bool}
_NUMBER = (int, float)
_REPLY_KEYS: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "json": dict,
    "status": int,
    "retry_after": _NUMBER,
    "times": int,
    "delay_s": _NUMBER,
    "logprobs": list,
    "refusal": str,
    "usage": list,
    "raw": str,
    "raw_type": str,
}
assert set(_REPLY_KEYS) == {f.name for f in fields(Reply)}


class ScriptError(UserInputError):
    """A script file the server cannot follow."""


@dataclass(frozen=True)
class Script:
    rules: tuple[Rule, ...]
    latency_s: float = 0.0


def load_script(path: str | os.PathLike[str]) -> Script:
    """Read a script file; raise `ScriptError` naming the file and the bad key."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScriptError(f"cannot read script: {exc}", path=source) from exc
    try:
        return parse_script(data)
    except ValueError as exc:
        raise ScriptError(str(exc), path=source) from exc


def parse_script(data: object) -> Script:
    """Build a `Script` from parsed JSON; raise ValueError with the key path on mistakes."""
    top = _mapping(data, "script", {"latency_ms", "rules"})
    latency_ms = _typed(top, "latency_ms", _NUMBER, "script") or 0
    if latency_ms < 0:
        raise ValueError("latency_ms: must not be negative")
    raw_rules = _typed(top, "rules", list, "script") or []
    rules = tuple(_rule(raw, f"rules[{i}]") for i, raw in enumerate(raw_rules))
    return Script(rules=rules, latency_s=latency_ms / 1000)


def _rule(raw: object, where: str) -> Rule:
    rule = _mapping(raw, where, {*_RULE_KEYS, "reply"})
    matchers = {key: _typed(rule, key, kind, where) for key, kind in _RULE_KEYS.items()}
    reply = _reply(rule.get("reply", {}), f"{where}.reply")
    return Rule(reply=reply, **matchers)


def _reply(raw: object, where: str) -> Reply:
    reply = _mapping(raw, where, set(_REPLY_KEYS))
    values = {key: _typed(reply, key, kind, where) for key, kind in _REPLY_KEYS.items()}
    values = {key: value for key, value in values.items() if value is not None}
    if "usage" in values:
        values["usage"] = _usage(values["usage"], f"{where}.usage")
    try:
        return Reply(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _usage(value: list[Any], where: str) -> tuple[int, int]:
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: expected [prompt_tokens, completion_tokens] (got {value!r})")
    return (value[0], value[1])


def _mapping(value: object, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object (got {json.dumps(value)})")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; expected one of {sorted(allowed)}")
    return value


def _typed(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = mapping.get(key)
    if value is None:
        return None
    wrong_bool = isinstance(value, bool) and kind is not bool
    if wrong_bool or not isinstance(value, kind):
        raise ValueError(f"{where}.{key}: expected {_kind_name(kind)} (got {json.dumps(value)})")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", dict: "an object"}
    if isinstance(kind, tuple):
        return "a number"
    return names.get(kind, "a list")
