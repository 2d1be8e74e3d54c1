"""Judge prompt templates: jinja2 with strict undefined variables.

A template sees ``item`` (the raw data-set row), ``prompt`` (the last user message),
``messages``, ``reference`` (only where the row has a reference answer) and
``sample.output_text``. A misspelt variable must fail at collection, before any
paid call, so every template is rendered once per case with a placeholder answer.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from deltajudge.cases import Case

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


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
