"""What a run will cost before it starts, so a spending cap can refuse it up front.

The spending cap (``max_cost``) also stops a run once its spend reaches the cap, but by
then the money is spent and the report is partial. Priced before any call, a run that
would obviously exceed the cap is refused with the figure and what to change instead.

Only the endpoint knows a call's tokens, so this is an estimate: about four characters a
token (OpenAI's tokenizers on English; no tokenizer is downloaded), an answer as long as
the alias's ``max_tokens`` or `ANSWER_TOKENS`, a verdict as long as the judge's
``max_tokens`` or `VERDICT_TOKENS`. Answers already in the cache cost nothing, and
neither do their judgments (a rerun); re-asks after an unreadable verdict are not
counted. It errs towards more: a capped answer is counted at its cap. Batch submissions
(``--dj-batch submit``) are priced at the Batch API's half.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from deltajudge.cases import Case
from deltajudge.generation.caller import Caller
from deltajudge.generation.pricing import BATCH_PRICE_FACTOR, FREE, price_for
from deltajudge.generation.request import ModelRequest
from deltajudge.judging.grader_specs import (
    LabelModelGrader,
    MultiGrader,
    PairwiseGrader,
    ScoreModelGrader,
    TextSimilarityGrader,
)
from deltajudge.judging.rubric import Rubric
from deltajudge.judging.templates import applies
from deltajudge.results import RubricRun
from deltajudge.settings import ModelConfig, Settings

CHARS_PER_TOKEN = 4
#: An answer's assumed length when its alias sets no ``max_tokens``.
ANSWER_TOKENS = 400
#: A verdict's assumed length (reasoning and a score) when the judge sets no ``max_tokens``.
VERDICT_TOKENS = 200
#: Chat formatting per message (role markers), as OpenAI's cookbook counts it.
MESSAGE_OVERHEAD = 4

_LIMIT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")

_JudgeSpec = ScoreModelGrader | LabelModelGrader | PairwiseGrader | TextSimilarityGrader


@dataclass
class AliasEstimate:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Estimate:
    by_alias: dict[str, AliasEstimate] = field(default_factory=dict)
    #: USD for the aliases whose price is known.
    cost_usd: float = 0.0
    #: Aliases that would be called but whose price nobody knows.
    unpriced: list[str] = field(default_factory=list)

    #: Aliases that would be called and cost nothing (local models).
    free: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(a.calls for a in self.by_alias.values())

    @property
    def paid(self) -> bool:
        """Some call will cost money, or might: worth saying before the run."""
        return any(row.calls and a not in self.free for a, row in self.by_alias.items())

    def describe(self) -> str:
        parts = [
            f"{alias} {row.calls} calls ~{row.prompt_tokens + row.completion_tokens:,} tokens"
            for alias, row in sorted(self.by_alias.items())
            if row.calls
        ]
        detail = f"{self.calls} calls ({'; '.join(parts)})"
        priced = [
            a
            for a, row in self.by_alias.items()
            if row.calls and a not in self.unpriced + self.free
        ]
        if not priced:
            return f"{detail}; cost unknown: no price for {', '.join(self.unpriced)}"
        unknown = f"; price unknown for {', '.join(self.unpriced)}" if self.unpriced else ""
        return f"~${self.cost_usd:.4f} for {detail}{unknown}"


def estimate(runs: list[RubricRun], caller: Caller, settings: Settings) -> Estimate:
    rows: dict[str, AliasEstimate] = defaultdict(AliasEstimate)
    for run in runs:
        rubric = run.loaded.rubric
        for case in run.selected:
            for alias in rubric.models:
                answer_chars = _generation(rows, caller, alias, case)
                if answer_chars is not None:  # a fresh answer: its judgments are fresh too
                    _judgments(rows, caller.models, rubric, alias, case, answer_chars)
    out = Estimate(by_alias=dict(rows))
    for alias, row in rows.items():
        if not row.calls:
            continue
        price = price_for(caller.models[alias], settings)
        if price is None:
            out.unpriced.append(alias)
        elif price == FREE:
            out.free.append(alias)
        else:
            out.cost_usd += price.of(row.prompt_tokens, row.completion_tokens)
    if settings.batch == "submit":  # the Batch API bills half
        out.cost_usd *= BATCH_PRICE_FACTOR
    return out


def _generation(
    rows: dict[str, AliasEstimate], caller: Caller, alias: str, case: Case
) -> int | None:
    """Counts the alias's answer to the case; its length in characters, or None when the
    first turn is already in the cache."""
    config = caller.models[alias]
    if config.provider == "recorded":
        return None  # a recording is never called
    messages = tuple(m.as_dict() for m in case.conversation(()))
    if caller.peek(ModelRequest(alias=alias, purpose="generate", messages=messages)):
        return None
    answer = _limit(config.params) or ANSWER_TOKENS
    context = _tokens(sum(len(m["content"]) for m in messages)) + MESSAGE_OVERHEAD * len(messages)
    row = rows[alias]
    for turn in range(len(case.turns)):  # each turn resends the conversation so far
        row.calls += 1
        row.prompt_tokens += context + turn * (answer + MESSAGE_OVERHEAD * 2)
        row.completion_tokens += answer
    return answer * CHARS_PER_TOKEN


def _judgments(
    rows: dict[str, AliasEstimate],
    models: dict[str, ModelConfig],
    rubric: Rubric,
    alias: str,
    case: Case,
    answer_chars: int,
) -> None:
    """Counts the model graders' calls on one answer: each sample, both orders of a pair."""
    for grader in rubric.graders:
        if not applies(grader.when, case):
            continue
        if isinstance(grader, PairwiseGrader) and alias == rubric.baseline:
            continue  # a pair is judged once per candidate
        subs = grader.graders.values() if isinstance(grader, MultiGrader) else [grader]
        for spec in subs:
            if isinstance(spec, _JudgeSpec) and spec.model is not None:
                _judgment(rows, models[spec.model], spec, case, answer_chars)


def _judgment(
    rows: dict[str, AliasEstimate],
    judge: ModelConfig,
    spec: _JudgeSpec,
    case: Case,
    answer_chars: int,
) -> None:
    if judge.provider == "recorded":
        return
    row = rows[spec.model or ""]
    if isinstance(spec, TextSimilarityGrader):  # embeddings: the answer and the reference
        row.calls += 1
        row.prompt_tokens += _tokens(answer_chars + len(case.reference or ""))
        return
    template = sum(len(m.content) for m in spec.input) + MESSAGE_OVERHEAD * len(spec.input)
    answers = 2 if isinstance(spec, PairwiseGrader) else 1  # both answers in the prompt
    repeats = 2 if isinstance(spec, PairwiseGrader) else getattr(spec, "samples", 1)
    prompt = _tokens(len(case.prompt) + answers * answer_chars) + _tokens(template)
    verdict = _limit(spec.sampling_params) or _limit(judge.params) or VERDICT_TOKENS
    row.calls += repeats
    row.prompt_tokens += repeats * prompt
    row.completion_tokens += repeats * verdict


def _limit(params: dict[str, object]) -> int | None:
    for key in _LIMIT_KEYS:
        value = params.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)
