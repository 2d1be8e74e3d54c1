"""Model graders: a judge model reads the rubric's rendered messages and answers.

They ask for structured ``{"reasoning", "score"}`` output, retry when the answer has no
usable score, and turn every failure into a `Grade` with an ``error``: the case shows
it, the statistics skip it. Pairwise judging lives in `pairwise`.
"""

from __future__ import annotations

import asyncio
import math
import re
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
    LabelModelGrader,
    MessageTemplate,
    ScoreModelGrader,
)
from deltajudge.judging.templates import context, render
from deltajudge.judging.types import Grade, Sample

GraderFn = Callable[[Case, Sample], Awaitable[Grade]]

_PLAIN_INTEGER = re.compile(r"-?[0-9]+")

#: Top tokens asked for when ``scoring: logprobs`` (the most OpenAI serves).
TOP_LOGPROBS = 20

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


Verdict = tuple[float, str | None, str | None]  # score, reasoning, label


async def _ask_judge(
    caller: Caller, request: ModelRequest, read: Callable[[CallResult], Verdict]
) -> Grade:
    """Call the judge until ``read`` finds a usable verdict, or report why it never did."""
    last_error = ""
    raw = None

    def accept(result: CallResult) -> None:
        try:
            read(result)
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
        score, reasoning, label = read(result)
        return Grade(score=score, reasoning=reasoning, label=label, raw=result.text)
    return Grade(
        error=f"no usable score after {1 + JUDGE_PARSE_RETRIES} tries: {last_error}", raw=raw
    )


def _read_json_score(low: float, high: float) -> Callable[[CallResult], Verdict]:
    def read(result: CallResult) -> Verdict:
        parsed = parse_judge_answer(result.text)
        return as_score(parsed.value, low, high), parsed.reasoning, None

    return read


def _read_logprob_score(low: float, high: float) -> Callable[[CallResult], Verdict]:
    def read(result: CallResult) -> Verdict:
        if not result.top_logprobs:
            raise JudgeParseError(
                "scoring: logprobs, but the endpoint returned no logprobs "
                "(it must support logprobs/top_logprobs; else use scoring: json)"
            )
        score = weighted_score(result.top_logprobs, low, high)
        return score, f"probability-weighted score from the judge's answer {result.text!r}", None

    return read


def score_model(spec: ScoreModelGrader, caller: Caller, *, repeat: int = 0) -> GraderFn:
    """``repeat`` > 0 asks again on purpose (noise checks): a new cache key, same prompt."""
    low, high = spec.range
    logprobs = spec.scoring == "logprobs"
    template = "score_only.j2" if logprobs else "score_format.j2"
    instruction = _format_instruction(template, low=f"{low:g}", high=f"{high:g}")
    read = _read_logprob_score(low, high) if logprobs else _read_json_score(low, high)
    tag = spec.definition_hash()

    async def once(case: Case, sample: Sample, index: int) -> Grade:
        messages = judge_messages(spec.input, context(case, sample.output_text), instruction)
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=messages,
            json_schema=None if logprobs else SCORE_SCHEMA,
            top_logprobs=TOP_LOGPROBS if logprobs else None,
            sample_index=repeat * 100 + index,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        return await _ask_judge(caller, request, read)

    async def grade(case: Case, sample: Sample) -> Grade:
        grades = await asyncio.gather(*(once(case, sample, i) for i in range(spec.samples)))
        verdict = grades[0] if spec.samples == 1 else _mean_of(grades)
        if not verdict.ok or spec.pass_threshold is None:
            return verdict
        assert verdict.score is not None
        return _with_pass(verdict, verdict.score >= spec.pass_threshold)

    return grade


def _mean_of(grades: list[Grade]) -> Grade:
    """``samples: k``: the mean of k judgments, with their spread; any failure fails all."""
    failed = [g.error for g in grades if not g.ok]
    if failed:
        return Grade(error=f"{len(failed)} of {len(grades)} judge samples failed: {failed[0]}")
    scores = tuple(g.score for g in grades if g.score is not None)
    mean = sum(scores) / len(scores)
    spread = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)) ** 0.5
    return Grade(
        score=mean,
        reasoning=grades[0].reasoning,
        raw=grades[0].raw,
        samples=scores,
        details={"sample_sd": spread},
    )


def weighted_score(positions: tuple[dict[str, float], ...], low: float, high: float) -> float:
    """G-Eval: at the first output token that is a score, the probability-weighted score."""
    for top in positions:
        weights: dict[int, float] = {}
        for token, logprob in top.items():
            text = token.strip()
            if not _PLAIN_INTEGER.fullmatch(text):  # "²" is a digit to str.isdigit, not to int()
                continue
            value = int(text)
            if low <= value <= high:
                weights[value] = weights.get(value, 0.0) + math.exp(logprob)
        total = sum(weights.values())
        if total > 0:
            return sum(value * p for value, p in weights.items()) / total
    raise JudgeParseError(f"no score token between {low:g} and {high:g} among the top logprobs")


def label_model(spec: LabelModelGrader, caller: Caller) -> GraderFn:
    instruction = _format_instruction("label_format.j2", labels=spec.labels)
    schema = _label_schema(spec.labels)
    tag = spec.definition_hash()

    def read(result: CallResult) -> Verdict:
        parsed = parse_judge_answer(result.text, field="label")
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


def _with_pass(grade: Grade, passed: bool) -> Grade:
    return Grade(
        score=grade.score,
        passed=passed,
        reasoning=grade.reasoning,
        label=grade.label,
        raw=grade.raw,
        samples=grade.samples,
        details=grade.details,
    )
