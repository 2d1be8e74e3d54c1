"""Model graders: a judge model reads the rubric's rendered messages and answers.

Each reads its verdict by its declared output contract (`contracts`): structured
``{"reasoning", "score"}`` JSON by default, or a published text format. Every failure
becomes a `Grade` with an ``error``: the case shows it, the statistics skip it.
Pairwise judging lives in `pairwise`, asking and re-asking in `asking`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from deltajudge.cases import Case
from deltajudge.generation.caller import Caller
from deltajudge.generation.request import CallResult, ModelRequest
from deltajudge.judging.asking import RetryPolicy, Verdict, ask_judge, judge_params, prompt_text
from deltajudge.judging.contracts import OutputContract
from deltajudge.judging.grader_specs import LabelModelGrader, MessageTemplate, ScoreModelGrader
from deltajudge.judging.parse import (
    JudgeParseError,
    as_score,
    parse_json_verdict,
    parse_text_verdict,
)
from deltajudge.judging.templates import context, references, render, with_answers
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
    return render(prompt_text(name), values).strip()


def judge_messages(
    templates: list[MessageTemplate], ctx: dict[str, Any], instruction: str | None
) -> tuple[dict[str, str], ...]:
    """The rubric's messages, rendered; a JSON contract appends its format instruction
    to the last one, a text contract sends them exactly as written."""
    rendered = [{"role": t.role, "content": render(t.content, ctx)} for t in templates]
    if instruction is not None:
        last = rendered[-1]
        rendered[-1] = {"role": last["role"], "content": f"{last['content']}\n\n{instruction}"}
    return tuple(rendered)


def copied_from(case: Case, *answers: str) -> list[str]:
    """The texts a judge may quote but whose verdicts it must not be read from."""
    return [*answers, *(r for r in references(case) if r)]


def _read_score(
    contract: OutputContract, low: float, high: float, sources: list[str]
) -> Callable[[CallResult], Verdict]:
    def read(result: CallResult) -> Verdict:
        if contract.is_text:
            parsed = parse_text_verdict(result.text, contract, sources)
        else:
            parsed = parse_json_verdict(result.text)
        return as_score(parsed.value, low, high), parsed.reasoning, None

    return read


def _read_logprob_score(low: float, high: float) -> Callable[[CallResult], Verdict]:
    def read(result: CallResult) -> Verdict:
        if not result.top_logprobs:
            raise JudgeParseError(
                "scoring: logprobs, but the endpoint returned no logprobs "
                "(it must support logprobs/top_logprobs; else use scoring: json)",
                retry=False,
            )
        score = weighted_score(result.top_logprobs, low, high)
        return score, f"probability-weighted score from the judge's answer {result.text!r}", None

    return read


def score_model(spec: ScoreModelGrader, caller: Caller, *, repeat: int = 0) -> GraderFn:
    """``repeat`` > 0 asks again on purpose (noise checks): a new cache key, same prompt."""
    low, high = spec.range
    logprobs = spec.scoring == "logprobs"
    contract = spec.output
    instruction = None
    if not contract.is_text:
        template = "score_only.j2" if logprobs else "score_format.j2"
        instruction = _format_instruction(template, low=f"{low:g}", high=f"{high:g}")
    policy = RetryPolicy.of(contract, judge_params(caller, spec.model, spec.sampling_params))
    tag = spec.definition_hash()

    async def once(case: Case, sample: Sample, index: int) -> Grade:
        ctx = with_answers(context(case, sample.output_text), sample.turns)
        messages = judge_messages(spec.input, ctx, instruction)
        structured = not logprobs and not contract.is_text
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=messages,
            json_schema=SCORE_SCHEMA if structured else None,
            top_logprobs=TOP_LOGPROBS if logprobs else None,
            sample_index=repeat * 100 + index,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        sources = copied_from(case, *sample.answers)
        read = (
            _read_logprob_score(low, high)
            if logprobs
            else _read_score(contract, low, high, sources)
        )
        return await ask_judge(caller, request, read, policy)

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
    failed = [g for g in grades if not g.ok]
    if failed:
        first = failed[0]
        message = f"{len(failed)} of {len(grades)} judge samples failed: {first.error}"
        return Grade(error=message, raw=first.raw)
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
    contract = spec.output
    instruction = None
    if not contract.is_text:
        instruction = _format_instruction("label_format.j2", labels=spec.labels)
    schema = None if contract.is_text else _label_schema(spec.labels)
    policy = RetryPolicy.of(contract, judge_params(caller, spec.model, spec.sampling_params))
    tag = spec.definition_hash()

    def reader(sources: list[str]) -> Callable[[CallResult], Verdict]:
        def read(result: CallResult) -> Verdict:
            if contract.is_text:
                parsed = parse_text_verdict(result.text, contract, sources)
            else:
                parsed = parse_json_verdict(result.text, field="label")
            label = str(parsed.value).strip()
            if label not in spec.labels:
                raise JudgeParseError(f"label {label!r} is not one of {spec.labels}")
            return (1.0 if label in spec.passing_labels else 0.0), parsed.reasoning, label

        return read

    async def grade(case: Case, sample: Sample) -> Grade:
        ctx = with_answers(context(case, sample.output_text), sample.turns)
        messages = judge_messages(spec.input, ctx, instruction)
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=messages,
            json_schema=schema,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        read = reader(copied_from(case, *sample.answers))
        verdict = await ask_judge(caller, request, read, policy)
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
