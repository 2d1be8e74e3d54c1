"""Recording a model's answers to a rubric's prompts, for `provider = "recorded"` later.

Apart from `recorded` (which reads recordings and which the `Caller` uses) because this
side needs the `Caller` itself to ask the model.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from deltajudge.cases import Case
from deltajudge.errors import CallError
from deltajudge.generation.caller import Caller
from deltajudge.generation.recorded import RecordedAnswer, input_hash
from deltajudge.generation.request import ModelRequest


@dataclass
class RecordOutcome:
    answers: list[RecordedAnswer]
    failures: list[tuple[str, str]]  # case id, error


async def record(
    caller: Caller, alias: str, cases: Sequence[Case], samples: int, rubric: str
) -> RecordOutcome:
    """Ask ``alias`` every case ``samples`` times, all at once within its endpoint limit."""
    config = caller.models[alias]
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

    async def one(case: Case, sample: int) -> RecordedAnswer | tuple[str, str]:
        messages = tuple(m.as_dict() for m in case.messages)
        request = ModelRequest(
            alias=alias, purpose="generate", messages=messages, sample_index=sample
        )
        try:
            result = await caller.call(request)
        except CallError as exc:
            return case.id, str(exc)
        return RecordedAnswer(
            case_id=case.id,
            input_hash=input_hash(messages),
            sample=sample,
            answer=result.text,
            alias=alias,
            model=config.model,
            params=dict(config.params),
            system=config.system,
            usage=(result.usage.prompt_tokens, result.usage.completion_tokens),
            recorded_at=stamp,
            rubric=rubric,
        )

    done = await asyncio.gather(*(one(c, s) for c in cases for s in range(samples)))
    answers = [d for d in done if isinstance(d, RecordedAnswer)]
    failures = [d for d in done if not isinstance(d, RecordedAnswer)]
    return RecordOutcome(answers, failures)
