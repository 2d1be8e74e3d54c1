"""Writing a model alias into the suite's config, keeping the rest of the file as it was.

``finetune watch`` ends a job by naming its model as an alias (``candidate``), so the
next ``deltajudge run`` compares it with the base. The file is the user's, comments and
all: the alias's ``model = ...`` line is replaced in place (or its table appended), the
result is parsed again before it replaces the original, and the write is atomic.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path

from deltajudge.errors import ConfigError
from deltajudge.settings import find_config_file

DEFAULT_CONFIG = "deltajudge.toml"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def config_path(rootdir: Path, explicit: Path | None = None) -> tuple[Path, bool]:
    """The suite's config as `deltajudge run` finds it, else a new ``deltajudge.toml``."""
    found = find_config_file(rootdir, explicit)
    if found is not None:
        return found
    return (explicit or rootdir / DEFAULT_CONFIG), False


def write_alias(path: Path, nested: bool, alias: str, values: Mapping[str, str]) -> None:
    """Set ``models.<alias>`` keys (``model``, and e.g. ``provider``/``base_url``)."""
    if not _BARE_KEY.match(alias):
        raise ConfigError(f"--alias {alias!r}: use letters, digits, '_' or '-'")
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    table = ("tool.deltajudge." if nested else "") + f"models.{alias}"
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        _refuse_other_spelling(path, text, nested, alias)
        block = [f"[{table}]", *(f"{key} = {_string(v)}" for key, v in values.items())]
        lines += ([""] if lines and lines[-1].strip() else []) + block
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        lines[start:end] = _updated(lines[start + 1 : end], values, lines[start])
    new_text = "\n".join(lines) + "\n"
    try:
        tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:  # never leave the user's file unreadable
        raise ConfigError(f"cannot update models.{alias}: {exc}", path=path) from None
    _atomic_write(path, new_text)


def _updated(body: list[str], values: Mapping[str, str], header: str) -> list[str]:
    remaining = dict(values)
    out = [header]
    for line in body:
        key = line.split("=", 1)[0].strip() if "=" in line else None
        if key in remaining:
            out.append(f"{key} = {_string(remaining.pop(key))}")
        else:
            out.append(line)
    while len(out) > 1 and not out[-1].strip():
        out.pop()
    out += [f"{key} = {_string(v)}" for key, v in remaining.items()]
    return [*out, ""] if body and not body[-1].strip() else out


def _refuse_other_spelling(path: Path, text: str, nested: bool, alias: str) -> None:
    """An alias defined as an inline table or dotted keys cannot be edited line-wise."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read the config: {exc}", path=path) from None
    if nested:
        table = table.get("tool", {}).get("deltajudge", {})
    if alias in table.get("models", {}):
        raise ConfigError(
            f"models.{alias} is defined in a form this command does not edit",
            path=path,
            hint=f"give it its own [{'tool.deltajudge.' if nested else ''}models.{alias}] table",
        )


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
