"""A bad config file, variable or option put in words: the key as the user wrote it, the
line it is on (tomllib keeps no positions, so it is found again in the file), the nearest
known key for a typo, and how to add an alias that is missing.

Apart from `deltajudge.settings` so the schema reads on its own; these load only when
something is wrong (and `alias_hint` when a run names an alias the config lacks).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from deltajudge.errors import ConfigError
from deltajudge.settings import LocalOverrides, ModelConfig, Settings


def toml_error(exc: tomllib.TOMLDecodeError, path: Path) -> ConfigError:
    """tomllib puts the position in its message ("(at line 3, column 7)"); move it to the
    front as ``path:line:col`` like every other error, so editors can jump to it."""
    text = str(exc)
    at = re.search(r" \(at line (\d+), column (\d+)\)$", text)
    if at is None:
        return ConfigError(f"not valid TOML: {text}", path=path)
    return ConfigError(
        f"not valid TOML: {text[: at.start()]}",
        path=path,
        line=int(at.group(1)),
        column=int(at.group(2)),
        hint='strings need quotes (model = "gpt-4.1"), tables are [models.ALIAS]',
    )


def config_error_from(
    exc: ValidationError,
    path: Path | None,
    table: dict[str, Any],
    *,
    source: str | None = None,
) -> ConfigError:
    errors = exc.errors()
    # A misspelt key also makes the key it was meant to be "missing": name the typo first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where: tuple[int | str, ...] = tuple(first["loc"])
    said = first["msg"].removeprefix("Value error, ")
    named = re.match(r"^([a-z_]+): (.*)$", said, re.DOTALL)
    if first["type"] == "value_error" and named:  # a validator naming its key: point at it
        where, said = (*where, named.group(1)), named.group(2)
    loc = ".".join(str(part) for part in where)
    prefix = "tool.deltajudge." if path is not None and path.name == "pyproject.toml" else ""
    if first["type"] == "extra_forbidden":
        message = f"{prefix}{loc}: unknown key"
        hint = _known_keys_hint(first["loc"])
    elif first["type"] == "missing":
        message = f"{prefix}{loc}: required key is missing"
        hint = None
    elif first["type"] == "value_error":  # the validator's own words; the input is a table
        message = f"{prefix}{loc}: {said}" if loc else said
        hint = None
    else:
        message = f"{prefix}{loc}: {first['msg']} (got {first.get('input')!r})"
        hint = None
    if source is not None:
        message += f" (from {source})"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    line = _find_key_line(path, where) if path and where else None
    if path and line is None and first["type"] == "missing" and len(where) > 1:
        line = _find_key_line(path, where[:-1])  # the table that lacks it
    return ConfigError(message, path=path, line=line, hint=hint)


def _known_keys_hint(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Settings
    if len(loc) >= 3 and loc[0] == "models":
        model = LocalOverrides if len(loc) >= 4 and loc[2] == "local" else ModelConfig
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return guess + "expected one of: " + ", ".join(model.model_fields)


def _find_key_line(path: Path, loc: tuple[int | str, ...]) -> int | None:
    """Best effort: tomllib keeps no positions, so find the key under its table header."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return None
    key = str(loc[-1])
    nested = any(line.strip().startswith("[tool.deltajudge") for line in lines)
    table_parts = (["tool", "deltajudge"] if nested else []) + [str(p) for p in loc[:-1]]
    in_table = not table_parts
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if text.startswith("["):
            header = text.strip("[]").strip()
            in_table = bool(table_parts) and header == ".".join(table_parts)
            if not in_table and header == ".".join([*table_parts, key]):
                return number
            continue
        if in_table and text.split("=")[0].strip() == key:
            return number
    return None


def alias_hint(alias: str, found: tuple[Path, bool] | None, option: str) -> str:
    """How to add a missing alias, in the spelling of the user's own config file and
    command (``option`` is ``--model`` under ``deltajudge run``, else ``--dj-model``)."""
    key = alias if re.fullmatch(r"[A-Za-z0-9_-]+", alias) else json.dumps(alias)
    if found is None:
        table, where = f"[models.{key}]", "a deltajudge.toml (`deltajudge init` writes one)"
    else:
        path, nested = found
        table = f"[tool.deltajudge.models.{key}]" if nested else f"[models.{key}]"
        where = str(path)
    return f'add {table} with model = "..." to {where}, or pass {option} {alias}=MODEL_ID'
