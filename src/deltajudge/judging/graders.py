"""Graders: small async callables ``(case, sample) -> Grade``.

Model graders render the rubric's message templates, ask the judge for structured
``{"reasoning", "score"}`` output, and retry when the answer has no usable score.
Every failure is a `Grade` with an ``error``: the case shows it, the statistics skip it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from deltajudge.cases import Case
from deltajudge.constants import JUDGE_PARSE_RETRIES
from deltajudge.errors import CallError
from deltajudge.generation.caller import Caller
from deltajudge.generation.request import CallResult, ModelRequest
from deltajudge.judging.parse import JudgeParseError, as_score, parse_judge_answer
from deltajudge.judging.rubric import (
    GraderSpec,
    LabelModelGrader,
    MessageTemplate,
    ScoreModelGrader,
    StringCheckGrader,
)
from deltajudge.judging.templates import context, render
from deltajudge.judging.types import Grade, Sample

GraderFn = Callable[[Case, Sample], Awaitable[Grade]]

SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "score": {"type": "number"}},
    "required": ["reasoning", "score"],
    "additionalProperties": False,
}


def _label_schema(labels: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "label": {"type": "string", "enum": labels},
        },
        "required": ["reasoning", "label"],
        "additionalProperties": False,
    }


def _format_instruction(name: str, **values: Any) -> str:
    source = resources.files("deltajudge.judging").joinpath(f"prompts/{name}").read_text("utf-8")
    return render(source, values).strip()


def judge_messages(
    templates: list[MessageTemplate], ctx: dict[str, Any], instruction: str
) -> tuple[dict[str, str], ...]:
    """The rubric's messages, rendered, with the answer-format instruction appended last."""
    rendered = [{"role": t.role, "content": render(t.content, ctx)} for t in templates]
    last = rendered[-1]
    rendered[-1] = {"role": last["role"], "content": f"{last['content']}\n\n{instruction}"}
    return tuple(rendered)


async def _ask_judge(
    caller: Caller,
    request: ModelRequest,
    read: Callable[[str], tuple[float, str | None, str | None]],
) -> Grade:
    """Call the judge until ``read`` finds a usable verdict, or report why it never did."""
    last_error = ""
    raw = None

    def accept(result: CallResult) -> None:
        try:
            read(result.text)
        except JudgeParseError as exc:
            raise JudgeParseError(str(exc), raw=result.text) from None

    for _attempt in range(1 + JUDGE_PARSE_RETRIES):
        try:
            result = await caller.call(request, accept=accept)
        except JudgeParseError as exc:
            last_error, raw = str(exc), exc.raw
            continue
        except CallError as exc:
            return Grade(error=f"judge call failed: {exc}")
        score, reasoning, label = read(result.text)
        return Grade(score=score, reasoning=reasoning, label=label, raw=result.text)
    return Grade(
        error=f"no usable score after {1 + JUDGE_PARSE_RETRIES} tries: {last_error}", raw=raw
    )


def score_model(spec: ScoreModelGrader, caller: Caller) -> GraderFn:
    low, high = spec.range
    instruction = _format_instruction("score_format.j2", low=f"{low:g}", high=f"{high:g}")
    tag = spec.definition_hash()

    def read(text: str) -> tuple[float, str | None, str | None]:
        parsed = parse_judge_answer(text)
        return as_score(parsed.value, low, high), parsed.reasoning, None

    async def grade(case: Case, sample: Sample) -> Grade:
        messages = judge_messages(spec.input, context(case, sample.output_text), instruction)
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=messages,
            json_schema=SCORE_SCHEMA,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        verdict = await _ask_judge(caller, request, read)
        if not verdict.ok or spec.pass_threshold is None:
            return verdict
        assert verdict.score is not None
        return _with_pass(verdict, verdict.score >= spec.pass_threshold)

    return grade


def label_model(spec: LabelModelGrader, caller: Caller) -> GraderFn:
    instruction = _format_instruction("label_format.j2", labels=spec.labels)
    schema = _label_schema(spec.labels)
    tag = spec.definition_hash()

    def read(text: str) -> tuple[float, str | None, str | None]:
        parsed = parse_judge_answer(text, field="label")
        label = str(parsed.value).strip()
        if label not in spec.labels:
            raise JudgeParseError(f"label {label!r} is not one of {spec.labels}")
        return (1.0 if label in spec.passing_labels else 0.0), parsed.reasoning, label

    async def grade(case: Case, sample: Sample) -> Grade:
        messages = judge_messages(spec.input, context(case, sample.output_text), instruction)
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=messages,
            json_schema=schema,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        verdict = await _ask_judge(caller, request, read)
        return _with_pass(verdict, verdict.score == 1.0) if verdict.ok else verdict

    return grade


def string_check(spec: StringCheckGrader) -> GraderFn:
    async def grade(case: Case, sample: Sample) -> Grade:
        ctx = context(case, sample.output_text)
        value, reference = render(spec.input, ctx), render(spec.reference, ctx)
        if spec.operation == "eq":
            ok = value == reference
        elif spec.operation == "ne":
            ok = value != reference
        elif spec.operation == "like":
            ok = reference in value
        else:
            ok = reference.lower() in value.lower()
        return Grade(score=1.0 if ok else 0.0, passed=ok, reasoning=f"{spec.operation} check")

    return grade


def _with_pass(grade: Grade, passed: bool) -> Grade:
    return Grade(
        score=grade.score,
        passed=passed,
        reasoning=grade.reasoning,
        label=grade.label,
        raw=grade.raw,
        samples=grade.samples,
    )


def build_grader(spec: GraderSpec, caller: Caller) -> GraderFn:
    if isinstance(spec, ScoreModelGrader):
        return score_model(spec, caller)
    if isinstance(spec, LabelModelGrader):
        return label_model(spec, caller)
    return string_check(spec)
