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
    return parse_definition(text, path)


def parse_definition(text: str, path: Path | str) -> dict[str, Any]:
    """`read_definition` for text already read (pasted on stdin: ``path`` is ``<stdin>``)."""
    return _as_eval(_parse(text, Path(path)), Path(path))


def _parse(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            raise _unreadable(text, path, json_error, exc) from None
    return _from_python(tree, path)


def _unreadable(
    text: str, path: Path, json_error: json.JSONDecodeError, exc: SyntaxError
) -> EvalsFormatError:
    """Neither JSON nor Python: text that opens like JSON is located where JSON broke
    (``line:col``), anything else where Python did."""
    hint = "save the definition with json.dump, or paste the dict as it was in the notebook"
    if text.lstrip()[:1] in ("{", "["):
        return EvalsFormatError(
            f"invalid JSON: {json_error.msg} (nor a Python literal: {exc.msg}, line {exc.lineno})",
            path=path,
            line=json_error.lineno,
            column=json_error.colno,
            hint=hint,
        )
    return EvalsFormatError(
        f"neither JSON ({json_error.msg}, line {json_error.lineno}) nor a Python "
        f"literal ({exc.msg})",
        path=path,
        line=exc.lineno,
        column=exc.offset,
        hint=hint,
    )


def _from_python(tree: ast.Module, path: Path) -> Any:
    """The ``evals.create(...)`` keywords, else the last literal that looks like criteria.

    Names assigned a literal earlier (``grader = {...}`` then ``testing_criteria=[grader]``)
    are substituted as literals; anything else (a comprehension, a call) is skipped.
    """
    env: dict[str, ast.expr] = {}
    found: dict[str, Any] = {}
    bare: Any = None
    failure: EvalsFormatError | None = None
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign | ast.Expr) and statement.value:
            node = _Substitute(env).visit(statement.value)
            if isinstance(node, ast.Call):
                found.update(_call_keywords(node, path))
                continue
            try:
                value = _literal(node, path)
            except EvalsFormatError as exc:
                failure = exc
                continue
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [getattr(statement, "target", None)]
            )
            env.update({t.id: node for t in targets if isinstance(t, ast.Name)})
            if _looks_like_criteria(value):
                bare = value
    if found:
        return found
    if bare is None:
        raise failure or EvalsFormatError(
            "no dict, list or evals.create(...) call found", path=path, hint=_SHAPES
        )
    return bare


class _Substitute(ast.NodeTransformer):
    """Replace names bound to literals by those literals (still nothing is evaluated)."""

    def __init__(self, env: dict[str, ast.expr]) -> None:
        self.env = env

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.env.get(node.id, node)


def _looks_like_criteria(value: Any) -> bool:
    if isinstance(value, dict):
        return "testing_criteria" in value or "type" in value
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and "type" in v for v in value)
    )


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
