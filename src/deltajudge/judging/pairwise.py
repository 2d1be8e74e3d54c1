"""Pairwise judging (MT-Bench style): which of two answers is better, or a tie.

Judges prefer whichever answer they read first often enough to matter, so every pair
is judged twice with the answers swapped. A verdict that flips with the order is a tie
and is counted as inconsistent: position bias shows up in the report instead of in
the win rate. A text contract (MT-Bench pair-v2's ``[[A]]``/``[[B]]``/``[[C]]``) maps
each label to ``a`` (the answer shown as ``answer_a``), ``b`` or ``tie``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from deltajudge.cases import Case
from deltajudge.generation.caller import Caller
from deltajudge.generation.request import CallResult, ModelRequest
from deltajudge.judging.asking import Reader, RetryPolicy, Verdict, ask_judge, judge_params
from deltajudge.judging.contracts import OutputContract
from deltajudge.judging.grader_specs import PairwiseGrader
from deltajudge.judging.model_graders import _format_instruction, copied_from, judge_messages
from deltajudge.judging.parse import JudgeParseError, parse_json_verdict, parse_text_verdict
from deltajudge.judging.templates import context
from deltajudge.judging.types import Grade, Sample

PairGraderFn = Callable[[Case, Sample, Sample], Awaitable[Grade]]
Outcome = Literal["win", "tie", "loss"]

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "verdict": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reasoning", "verdict"],
    "additionalProperties": False,
}
_SCORE = {"win": 1.0, "tie": 0.0, "loss": -1.0}
_CODE = {"A": 1.0, "B": 2.0, "tie": 0.0}
_SIDE = {"a": "A", "b": "B", "tie": "tie"}


def _reader(contract: OutputContract, sources: list[str]) -> Reader:
    verdicts = contract.pair_verdicts()

    def read(result: CallResult) -> Verdict:
        if not contract.is_text:
            parsed = parse_json_verdict(result.text, field="verdict")
            verdict = str(parsed.value).strip()
            verdict = "tie" if verdict.lower() == "tie" else verdict
            if verdict not in _CODE:
                raise JudgeParseError(f"verdict {verdict!r} is not A, B or tie")
            return _CODE[verdict], parsed.reasoning, verdict
        parsed = parse_text_verdict(result.text, contract, sources)
        label = str(parsed.value).strip()
        if label not in verdicts:
            raise JudgeParseError(f"verdict {label!r} is not one of {sorted(verdicts)}")
        verdict = _SIDE[verdicts[label]]
        return _CODE[verdict], parsed.reasoning, verdict

    return read


def combine(candidate_second: str, candidate_first: str) -> tuple[Outcome, bool]:
    """The candidate's outcome from both orders, and whether the judge was inconsistent.

    ``candidate_second`` is the verdict with the baseline shown as A; ``candidate_first``
    with the candidate shown as A.
    """
    first: Outcome = {"B": "win", "A": "loss", "tie": "tie"}[candidate_second]  # type: ignore[assignment]
    second: Outcome = {"A": "win", "B": "loss", "tie": "tie"}[candidate_first]  # type: ignore[assignment]
    if first == second:
        return first, False
    return "tie", True


def pairwise(spec: PairwiseGrader, caller: Caller) -> PairGraderFn:
    contract = spec.output
    instruction = None if contract.is_text else _format_instruction("pairwise_format.j2")
    policy = RetryPolicy.of(contract, judge_params(caller, spec.model, spec.sampling_params))
    tag = spec.definition_hash()

    async def ask(case: Case, a: Sample, b: Sample) -> Grade:
        ctx = context(
            case,
            "",
            answer_a=a.output_text,
            answer_b=b.output_text,
            answers_a=list(a.answers),
            answers_b=list(b.answers),
        )
        request = ModelRequest(
            alias=spec.model,
            purpose="judge",
            messages=judge_messages(spec.input, ctx, instruction),
            json_schema=None if contract.is_text else VERDICT_SCHEMA,
            extra_params=spec.sampling_params,
            cache_tag=tag,
        )
        read = _reader(contract, copied_from(case, *a.answers, *b.answers))
        return await ask_judge(caller, request, read, policy)

    async def grade(case: Case, baseline: Sample, candidate: Sample) -> Grade:
        shown_second, shown_first = await asyncio.gather(
            ask(case, baseline, candidate), ask(case, candidate, baseline)
        )
        raw = f"baseline first:\n{shown_second.raw}\n\ncandidate first:\n{shown_first.raw}"
        for order, verdict in (("baseline", shown_second), ("candidate", shown_first)):
            if not verdict.ok:
                return Grade(error=f"with the {order} shown first (as A): {verdict.error}", raw=raw)
        assert shown_second.label is not None and shown_first.label is not None
        outcome, inconsistent = combine(shown_second.label, shown_first.label)
        return Grade(
            score=_SCORE[outcome],
            label=outcome,
            reasoning=(
                f"baseline first: {shown_second.label} ({shown_second.reasoning}); "
                f"candidate first: {shown_first.label} ({shown_first.reasoning})"
            ),
            raw=raw,
            details={"inconsistent": float(inconsistent)},
        )

    return grade
