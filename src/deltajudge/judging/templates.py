"""Judge prompt templates: jinja2 with strict undefined variables.

A template sees ``item`` (the raw data-set row), ``prompt`` (the last user message),
``messages``, ``reference`` and ``references`` (only where the row has a reference
answer; a row's ``reference`` that is a list or an object arrives intact, and
``references`` is always a list), ``sample.output_text``, and for multi-turn cases
``turns`` (every user turn) and ``sample.turns`` (the answer to each). A misspelt variable must
fail at collection, before any paid call, so every template is rendered once per case
with a placeholder answer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jinja2

from deltajudge.cases import Case

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@lru_cache(maxsize=512)
def compile_template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=128)
def compile_condition(source: str) -> Callable[..., Any]:
    """A grader's ``when``: a jinja2 expression, strict about undefined names too."""
    return _ENV.compile_expression(source, undefined_to_none=False)


def applies(when: str | None, case: Case) -> bool:
    """Whether a grader with condition ``when`` judges this case's row."""
    return when is None or bool(compile_condition(when)(**context(case, "")))


def context(
    case: Case, output_text: str, *, answers: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """``answers``: the answer to each turn of a multi-turn case (default: the one
    answer, repeated for every turn, which is what collection renders with)."""
    turns = list(case.turns)
    sample_turns = list(answers) or [output_text] * len(turns)
    ctx: dict[str, Any] = {
        "item": case.item,
        "prompt": case.prompt,
        "messages": [m.as_dict() for m in case.messages],
        "turns": turns,
        "sample": {"output_text": output_text, "turns": sample_turns},
        **extra,
    }
    reference = _reference(case)
    if reference is not None:
        ctx["reference"] = reference
        ctx["references"] = reference if isinstance(reference, list) else [reference]
    return ctx


def _reference(case: Case) -> Any:
    raw = case.item.get("reference")
    return raw if isinstance(raw, list | dict) else case.reference


def references(case: Case) -> list[str]:
    """Every text inside the case's reference, however it is nested (for `copies`)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            for part in value:
                walk(part)
        elif isinstance(value, dict):
            for part in value.values():
                walk(part)

    walk(_reference(case))
    return found


def render(source: str, ctx: dict[str, Any]) -> str:
    return compile_template(source).render(ctx)
