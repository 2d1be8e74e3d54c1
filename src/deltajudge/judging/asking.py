"""Ask a judge, and re-ask an unreadable reply only where asking again can help.

A deterministic judge asked the same thing twice answers the same way twice, so a plain
retry only multiplies the judge's bill. A re-ask therefore always differs from the
first request: at an explicit ``temperature`` > 0 the same request is sampled again;
otherwise the unreadable reply is kept in the conversation and a follow-up message
says what was wrong and which format is expected. Each re-ask is one more request to
the endpoint and is counted like any other call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from deltajudge.errors import CallError
from deltajudge.generation.caller import Caller
from deltajudge.generation.request import CallResult, ModelRequest
from deltajudge.judging.contracts import OutputContract
from deltajudge.judging.parse import JudgeParseError, tail
from deltajudge.judging.templates import render
from deltajudge.judging.types import Grade

Verdict = tuple[float, str | None, str | None]  # score, reasoning, label
Reader = Callable[[CallResult], Verdict]


def prompt_text(name: str) -> str:
    return resources.files("deltajudge.judging").joinpath(f"prompts/{name}").read_text("utf-8")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    #: The judge samples (temperature > 0): the same request again may read differently.
    resample: bool
    follow_up: str
    expected: str

    @classmethod
    def of(cls, contract: OutputContract, params: Mapping[str, Any]) -> RetryPolicy:
        temperature = params.get("temperature")
        sampling = isinstance(temperature, int | float) and temperature > 0
        return cls(
            retries=contract.retries,
            resample=sampling,
            follow_up=contract.follow_up or prompt_text("follow_up.j2"),
            expected=contract.expected(),
        )


def judge_params(caller: Caller, alias: str, sampling_params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters the judge really gets: its alias's, then the grader's on top."""
    config = caller.models.get(alias)
    return {**(config.params if config else {}), **sampling_params}


def _follow_up(request: ModelRequest, raw: str, error: str, policy: RetryPolicy) -> ModelRequest:
    message = render(policy.follow_up, {"error": error, "expected": policy.expected}).strip()
    return replace(
        request,
        messages=(
            *request.messages,
            {"role": "assistant", "content": raw},
            {"role": "user", "content": message},
        ),
    )


async def ask_judge(
    caller: Caller, request: ModelRequest, read: Reader, policy: RetryPolicy
) -> Grade:
    """One judge verdict as a `Grade`, or an error saying why there is none.

    The raw reply is on the grade either way, so a report shows what the judge wrote.
    """
    last_error, raw = "", None
    current = request

    def accept(result: CallResult) -> None:  # an unreadable reply is never cached
        try:
            read(result)
        except JudgeParseError as exc:
            message = str(exc)
            if "the reply ends" not in message:  # e.g. a score outside the range
                message += f"; the reply ends: {tail(result.text)!r}"
            raise JudgeParseError(message, raw=result.text, retry=exc.retry) from None

    tries = 1 + policy.retries
    for attempt in range(1 + policy.retries):
        try:
            result = await caller.call(current, accept=accept)
            score, reasoning, label = read(result)  # a cached reply is read here first
        except JudgeParseError as exc:
            last_error, raw = str(exc), exc.raw if exc.raw is not None else raw
            if not exc.retry:
                tries = attempt + 1
                break
            if not policy.resample:
                current = _follow_up(request, raw or "", last_error, policy)
            continue
        except CallError as exc:
            return Grade(error=f"judge call failed: {exc}", raw=raw)
        return Grade(score=score, reasoning=reasoning, label=label, raw=result.text)
    after = f" after {tries} tries" if tries > 1 else ""
    return Grade(error=f"no usable verdict{after}: {last_error}", raw=raw)
