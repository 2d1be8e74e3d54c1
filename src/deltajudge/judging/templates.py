"""Judge prompt templates: jinja2 with strict undefined variables.

A template sees ``item`` (the raw data-set row), ``prompt`` (the last user message),
``messages``, ``reference`` (only where the row has a reference answer) and
``sample.output_text``. A misspelt variable must fail at collection, before any
paid call, so every template is rendered once per case with a placeholder answer.

A structured value (``{{ item.input }}`` of a preference row is ``{"messages": [...]}``)
renders as readable text, one ``role: content`` line per message, or JSON: the judge
must read what was asked, not a Python repr.
"""

from __future__ import annotations

import json
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


def context(case: Case, output_text: str, **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "item": case.item,
        "prompt": case.prompt,
        "messages": [m.as_dict() for m in case.messages],
        "sample": {"output_text": output_text},
        **extra,
    }
    if case.reference is not None:
        ctx["reference"] = case.reference
    return ctx


def render(source: str, ctx: dict[str, Any]) -> str:
    return compile_template(source).render(ctx)
