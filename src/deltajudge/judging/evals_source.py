"""Read an OpenAI Evals definition as people hold it after the hosted Evals shut down.

Two forms exist in the wild: the JSON ``evals.create`` took (or an export of it), and the
Python literal pasted from a notebook (``True``/``None``, single quotes, trailing commas,
often as ``client.evals.create(name=..., testing_criteria=[...])`` or
``grader = {...}``). The Python form is read with `ast.literal_eval` on the literal nodes
only: nothing in the file is ever executed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from deltajudge.errors import UserInputError

#: The keys of ``evals.create`` that a definition may carry.
EVAL_KEYS = ("name", "data_source_config", "testing_criteria", "metadata")


class EvalsFormatError(UserInputError):
    """An OpenAI Evals definition that cannot be read or mapped."""


def read_definition(path: Path) -> dict[str, Any]:
    """``{"name", "data_source_config", "testing_criteria"}`` from a JSON or Python file.

    A bare criterion (``{"type": "score_model", ...}``) or a list of criteria is accepted
    too: that is what notebooks most often kept.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalsFormatError("file not found", path=path) from None
    value = _parse(text, path)
    return _as_eval(value, path)


def _parse(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            raise EvalsFormatError(
                f"neither JSON ({json_error.msg}, line {json_error.lineno}) nor a Python "
                f"literal ({exc.msg})",
                path=path,
                line=exc.lineno,
                hint="save the definition with json.dump, or paste the dict as it was in "
                "the notebook",
            ) from None
    return _from_python(tree, path)


def _from_python(tree: ast.Module, path: Path) -> Any:
    """The last literal, keyword-call or assignment in the module, read as data."""
    found: dict[str, Any] = {}
    bare: Any = None
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            value = statement.value
            if value is None:
                continue
            if isinstance(value, ast.Call):
                found.update(_call_keywords(value, path))
            else:
                bare = _literal(value, path)
        elif isinstance(statement, ast.Expr):
            if isinstance(statement.value, ast.Call):
                found.update(_call_keywords(statement.value, path))
            else:
                bare = _literal(statement.value, path)
    if found:
        return found
    if bare is None:
        raise EvalsFormatError(
            "no dict, list or evals.create(...) call found", path=path, hint=_SHAPES
        )
    return bare


def _call_keywords(call: ast.Call, path: Path) -> dict[str, Any]:
    return {kw.arg: _literal(kw.value, path) for kw in call.keywords if kw.arg in EVAL_KEYS}


def _literal(node: ast.expr, path: Path) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise EvalsFormatError(
            f"line {node.lineno}: not a literal (only dicts, lists, strings, numbers, "
            "True/False/None are read; nothing is executed)",
            path=path,
            line=node.lineno,
            column=node.col_offset + 1,
        ) from None


_SHAPES = (
    "expected the evals.create body ({name, data_source_config, testing_criteria}), "
    "a list of testing criteria, or one grader ({type: score_model, ...})"
)


def _as_eval(value: Any, path: Path) -> dict[str, Any]:
    if isinstance(value, list):
        value = {"testing_criteria": value}
    elif isinstance(value, dict) and "type" in value and "testing_criteria" not in value:
        value = {"testing_criteria": [value]}
    if not isinstance(value, dict) or not isinstance(value.get("testing_criteria"), list):
        raise EvalsFormatError("no testing_criteria", path=path, hint=_SHAPES)
    if not value["testing_criteria"]:
        raise EvalsFormatError("testing_criteria is empty", path=path, hint=_SHAPES)
    return value
