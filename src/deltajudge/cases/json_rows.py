"""One line of a JSON Lines data set as a checked JSON object.

Beyond what ``json`` itself refuses: rows nested deeper than the parser should recurse,
NaN, Infinity and numbers that overflow to infinity (no report could write them back),
lone surrogates that are not text, and the usual file-level mistakes (a JSON array, a
pretty-printed object, a trailing comma) said in words with the fix.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from deltajudge.errors import DatasetError

#: Deeper rows are refused before the parser recurses: no data set row needs more, and
#: Python's own limit would end the run with a RecursionError instead of a located error.
MAX_NESTING = 64

_JSONL_HINT = "a data set is JSON Lines: one JSON object per line, no enclosing [ ]"


def parse_row(line: str, path: Path, number: int) -> dict[str, Any]:
    """One data-set line as a JSON object, or a `DatasetError` naming the line and what is
    wrong in words."""
    if _nesting(line) > MAX_NESTING:
        raise DatasetError(f"nested deeper than {MAX_NESTING} levels", path=path, line=number)
    try:
        row = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, line, path, number) from None
    except (ValueError, RecursionError) as exc:  # 4,300-digit integers, NaN, Infinity, 1e999
        raise DatasetError(f"invalid JSON: {exc}", path=path, line=number) from None
    if isinstance(row, list):
        raise DatasetError(
            "this line is a JSON array, not an object",
            path=path,
            line=number,
            hint=f"{_JSONL_HINT}; convert with: {_jq_lines(path)}",
        )
    if not isinstance(row, dict):
        raise DatasetError("expected a JSON object per line", path=path, line=number)
    where = _unencodable(row, "") if _SURROGATE_ESCAPE.search(line) else None
    if where is not None:
        raise DatasetError(
            f"{where}: holds a lone surrogate (\\ud800-\\udfff) that is not text",
            path=path,
            line=number,
            hint="write characters outside the BMP as a surrogate pair or as UTF-8",
        )
    return row


def _nesting(line: str) -> int:
    """How deep the row's arrays and objects go (brackets inside strings do not count)."""
    if line.count("[") + line.count("{") <= MAX_NESTING:
        return 0
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", line)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")
#: Only a ``\uD800``-``\uDFFF`` escape can put a lone surrogate into a parsed row.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    """``1e999`` is valid JSON but no float: Python reads it as infinity, which no report
    can write back. Refused like ``Infinity``."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


#: One decoder for every line: ``json.loads`` with hooks builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def _unencodable(value: Any, where: str) -> str | None:
    """The key path of the first string (key or value) that is not valid Unicode text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "row"
        return None
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            child_where = f"{where}.{key}" if where else str(key)
            if _unencodable(key, where) is not None:
                return where or "row"
            children.append((child_where, child))
    elif isinstance(value, list):
        children = [(f"{where}[{i}]", child) for i, child in enumerate(value)]
    for child_where, child in children:
        found = _unencodable(child, child_where)
        if found is not None:
            return found
    return None


def _json_error(exc: json.JSONDecodeError, line: str, path: Path, number: int) -> DatasetError:
    """Name the usual mistakes (a trailing comma, a JSON array or pretty-printed file) in
    words, instead of the parser's "Expecting value"."""
    comma = next(
        (m for m in re.finditer(r",\s*[}\]]", line) if m.end() - 1 == exc.pos), None
    )  # the parser stopped at the bracket right after a comma
    text = line.strip()
    if comma is not None:
        return DatasetError(
            "invalid JSON: trailing comma before "
            f"'{line[comma.end() - 1]}' (JSON allows no comma after the last item)",
            path=path,
            line=number,
            column=comma.start() + 1,
        )
    if text in ("[", "{") or (text.startswith("[") and text.rstrip(",").endswith("}")):
        what = "a JSON array" if text.startswith("[") else "one JSON object over several lines"
        return DatasetError(
            f"invalid JSON: this file looks like {what}",
            path=path,
            line=number,
            hint=f"{_JSONL_HINT}; convert with: {_jq_lines(path)}"
            if text.startswith("[")
            else f"{_JSONL_HINT}; put each row on one line (jq -c . {path.name})",
        )
    return DatasetError(f"invalid JSON: {exc.msg}", path=path, line=number, column=exc.colno)


def _jq_lines(path: Path) -> str:
    """The jq command that turns a JSON array file into JSON Lines. Never `x.jsonl >
    x.jsonl`: the shell empties the output before jq reads it, and the data set is gone."""
    if path.suffix != ".jsonl":
        return f"jq -c '.[]' {path.name} > {path.stem}.jsonl"
    fixed = f"{path.stem}.lines.jsonl"
    return f"jq -c '.[]' {path.name} > {fixed} && mv {fixed} {path.name}"
