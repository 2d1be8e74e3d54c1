"""Judge prompt templates: jinja2 with strict undefined variables.

A template sees ``item`` (the raw data-set row), ``prompt`` (the last user message),
``messages``, ``reference`` and ``references`` (only where the row has a reference
answer; a row's ``reference`` that is a list or an object arrives intact, and
``references`` is always a list), ``sample.output_text``, and for multi-turn cases
``turns`` (every user turn) and ``sample.turns`` (the answer to each). A misspelt
variable must fail at collection, before any paid call, so every template is rendered
once per case with a placeholder answer.

A structured value (``{{ item.input }}`` of a preference row is ``{"messages": [...]}``)
renders as readable text, one ``role: content`` line per message, or JSON: the judge
must read what was asked, not a Python repr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jinja2

from deltajudge.cases import Case
from deltajudge.cases.case import content_text


def readable(value: Any) -> Any:
    """How a template shows a non-text value (jinja2's ``finalize``)."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return "\n".join(f"{m['role']}: {content_text(m.get('content'))}" for m in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str)


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, finalize=readable)


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


def context(case: Case, output_text: str, **extra: Any) -> dict[str, Any]:
    """``sample.turns`` is the one answer repeated for every turn (what collection renders
    with) until `with_answers` sets a multi-turn case's real answers."""
    turns = list(case.turns)
    sample_turns = [output_text] * len(turns)
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


def with_answers(ctx: dict[str, Any], answers: tuple[str, ...]) -> dict[str, Any]:
    """``ctx`` with a multi-turn sample's answer to each turn as ``sample.turns``."""
    if answers:
        ctx["sample"] = {**ctx["sample"], "turns": list(answers)}
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
