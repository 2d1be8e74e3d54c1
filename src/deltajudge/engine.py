"""The engine: generate every selected case with every model, grade each answer as soon
as it exists, and return `RunResults`.

Pytest runs items one at a time; this runs the whole selection at once, bounded per
endpoint, so 1,000 cases at 1 s latency take seconds, not an hour. `deltajudge.pipeline`
is the one caller, and owns the single ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deltajudge.cases import Case
from deltajudge.constants import BOOTSTRAP_SEED
from deltajudge.errors import BudgetError, CallError
from deltajudge.generation.batch import open_batch_runs
from deltajudge.generation.batch_state import BatchOutcome
from deltajudge.generation.cache import ResponseCache
from deltajudge.generation.caller import Caller, LocalStart
from deltajudge.generation.local_process import cpu_count
from deltajudge.generation.request import CallResult, ModelRequest
from deltajudge.interrupt import Stop
from deltajudge.judging.grader_specs import PairwiseGrader, ScoreModelGrader
from deltajudge.judging.graders import GraderFn, PairGraderFn, build_grader, build_pair_grader
from deltajudge.judging.model_graders import score_model
from deltajudge.judging.rubric import Rubric
from deltajudge.judging.templates import applies
from deltajudge.judging.types import Grade, Sample
from deltajudge.results import CaseResult, RubricRun, RunResults, TokenUsage
from deltajudge.settings import ModelConfig, Settings


@dataclass(frozen=True)
class Tick:
    """How far a run is, after each finished case: what the progress line shows."""

    done: int
    total: int
    errors: int
    calls: int  # requests sent (cache hits are not calls)
    cached: int  # answers and judgments replayed from the cache
    tokens: int  # prompt + completion tokens of the requests sent
    cost_usd: float = 0.0  # spent so far, on the aliases whose price is known


Progress = Callable[[Tick], None]
#: Called with each finished case; True stops scheduling new ones (pytest's -x/--maxfail).
StopWhen = Callable[[RubricRun, CaseResult], bool]
#: Told one line before the first call: what the run is estimated to cost.
Announce = Callable[[str], None]


async def execute(
    runs: list[RubricRun],
    models: dict[str, ModelConfig],
    settings: Settings,
    rootdir: Path,
    progress: Progress | None,
    stop_when: StopWhen | None = None,
    announce: Announce | None = None,
) -> RunResults:
    started = time.time()
    stop = Stop()
    batch: BatchOutcome | None = None
    async with open_caller(models, settings, rootdir) as caller:
        priced = _check_budget(runs, caller, settings)
        if announce is not None and priced:
            announce(f"deltajudge: {priced[0]}")
        caller.batch = open_batch_runs(settings, rootdir, caller.models)
        if caller.batch is None or await caller.batch.collect(caller.client):
            await stop.run(_run_all(runs, caller, progress, stop, stop_when))
        if caller.batch is not None and not stop.requested:
            batch = await caller.batch.finish(caller.client)
    return RunResults(
        rubrics=runs,
        models=caller.models,
        tokens=token_usage(caller),
        started_at=started,
        duration_s=time.time() - started,
        calls=caller.calls,
        cache_hits=caller.cache_hits,
        notes=[*priced, *caller.notes()],
        interrupted=stop.reason,
        exit_code=stop.exit_code,
        batch=batch,
    )


def _check_budget(runs: list[RubricRun], caller: Caller, settings: Settings) -> list[str]:
    """Price the run before any call: refuse one estimated above the spending cap
    (nothing is spent), and say the estimate of any run that will make paid calls."""
    from deltajudge.estimate import estimate

    if settings.batch == "collect" or settings.offline:
        return []  # answers come from finished batches or the cache: nothing is called
    priced = estimate(runs, caller, settings)
    cap = settings.max_cost
    if cap is not None and priced.cost_usd > cap:
        raise BudgetError(
            f"not started: this run is estimated at {priced.describe()}, above the spending "
            f"cap (max_cost) of ${cap:g}",
            hint="raise --dj-max-cost, or run fewer cases (-k, --dj-limit N) or fewer "
            "samples; answers already cached cost nothing",
        )
    if not priced.paid:
        return []
    capped = f"; cap ${cap:g}" if cap is not None else ""
    return [f"estimated before the run: {priced.describe()}{capped}"]


@contextlib.asynccontextmanager
async def open_caller(
    models: Mapping[str, ModelConfig], settings: Settings, rootdir: Path
) -> AsyncIterator[Caller]:
    """The `Caller` every command that asks models uses (a run, a recording, a probe, a
    judge check): the run's cache, local servers started on first use, and all of it
    closed however the block ends."""
    with contextlib.ExitStack() as cleanup:
        cache = ResponseCache(rootdir / settings.cache_dir) if settings.cache else None
        if cache is not None:
            cleanup.callback(cache.close)
        local = None
        if not settings.offline and any(m.provider == "local" for m in models.values()):
            local = LocalStarter(cleanup, dict(models))
        caller = Caller(models, settings, cache, start_local=local)
        try:
            yield caller
        finally:
            await caller.aclose()


class LocalStarter:
    """Starts one llama.cpp server per model file on an alias's first cache miss; the
    exit stack stops them however the run ends."""

    def __init__(self, cleanup: contextlib.ExitStack, models: dict[str, ModelConfig]) -> None:
        from deltajudge.generation.local_server import LocalServerPool

        self._pool = cleanup.enter_context(LocalServerPool())
        local = [m for m in models.values() if m.provider == "local"]
        # Servers of different model files split the cores instead of spinning against
        # each other; one server uses them all (its slots share one batch).
        servers = len({(m.model_path, m.n_ctx, m.n_parallel, m.chat_format) for m in local})
        self._threads = max(1, cpu_count() // servers)

    async def __call__(self, alias: str, config: ModelConfig) -> LocalStart:
        return await asyncio.to_thread(self._start, alias, config)

    def _start(self, alias: str, config: ModelConfig) -> LocalStart:
        from deltajudge.generation.local_server import LocalServerSpec, embedded_model_path

        spec = LocalServerSpec(
            model_path=Path(config.model_path) if config.model_path else embedded_model_path(),
            n_ctx=config.n_ctx,
            n_parallel=config.n_parallel,
            n_threads=config.n_threads or self._threads,
            chat_format=config.chat_format,
        )
        base_url = self._pool.ensure(spec, alias=alias)
        started = config.model_copy(
            update={"base_url": base_url, "concurrency": config.concurrency or config.n_parallel}
        )
        return LocalStart(started, lambda: self._pool.exit_report(base_url))


def token_usage(caller: Caller) -> dict[str, TokenUsage]:
    """The caller's tokens, calls and cost per alias, as the report holds them."""
    out: dict[str, TokenUsage] = {}
    for alias in caller.models:
        spent = caller.tokens.spent.get(alias, [0, 0, 0])
        cached = caller.tokens.cached.get(alias, [0, 0, 0])
        cost = caller.cost_usd(alias)
        out[alias] = TokenUsage(
            prompt_tokens=spent[0],
            completion_tokens=spent[1],
            calls=spent[2],
            cached_calls=cached[2],
            cost_usd=None if cost is None else round(cost, 6),
        )
    return out


@dataclass
class _Graders:
    """One rubric's graders, built once per run: per answer, and per (baseline, candidate) pair."""

    single: dict[str, GraderFn]
    pairs: dict[str, PairGraderFn]

    @classmethod
    def build(cls, rubric: Rubric, caller: Caller) -> _Graders:
        single, pairs = {}, {}
        for spec in rubric.graders:
            if isinstance(spec, PairwiseGrader):
                pairs[spec.name] = build_pair_grader(spec, caller)
            else:
                single[spec.name] = build_grader(spec, caller)
        return cls(single, pairs)


async def _run_all(
    runs: list[RubricRun],
    caller: Caller,
    progress: Progress | None,
    stop: Stop,
    stop_when: StopWhen | None = None,
) -> None:
    total = sum(len(run.selected) for run in runs)
    state = {"done": 0, "errors": 0, "stopped": 0}

    async def one(run: RubricRun, graders: _Graders, case: Case) -> None:
        result = await _evaluate_case(run, graders, caller, case)
        run.cases.add(result)
        state["done"] += 1
        state["errors"] += bool(result.errors())
        if stop_when is not None and stop_when(run, result):
            state["stopped"] = 1  # cases in flight finish; no new one starts
        if progress is not None:
            spent = caller.tokens.spent.values()
            progress(
                Tick(
                    done=state["done"],
                    total=total,
                    errors=state["errors"],
                    calls=caller.calls,
                    cached=sum(row[2] for row in caller.tokens.cached.values()),
                    tokens=sum(row[0] + row[1] for row in spent),
                    cost_usd=caller.spent_usd(),
                )
            )

    work = (
        (run, graders, case)
        for run in runs
        for graders in [_Graders.build(run.loaded.rubric, caller)]
        for case in run.selected
    )

    async def worker() -> None:
        for run, graders, case in work:  # workers share one generator: each case once
            if caller.over_budget():
                spent = caller.spent_usd()
                stop.cut_short(f"the spending cap (max_cost) was reached: ${spent:.4f} spent")
            if stop.requested or state["stopped"]:
                return
            await one(run, graders, case)

    # Enough cases in flight to keep every endpoint's requests busy, but not all 10,000
    # at once: each waiting case holds its coroutines and request bodies in memory.
    await asyncio.gather(*(worker() for _ in range(min(total, caller.cases_in_flight()))))
    if stop.requested:
        return
    await asyncio.gather(
        *(measure_noise(run, caller) for run in runs if run.loaded.rubric.noise_check)
    )


async def _evaluate_case(
    run: RubricRun, graders: _Graders, caller: Caller, case: Case
) -> CaseResult:
    """Each answer is graded the moment it arrives: a pipeline, not two phases.
    A pairwise grader starts as soon as both the baseline's and the candidate's exist."""
    result = CaseResult(case=case)
    rubric = run.loaded.rubric
    answers = {
        alias: asyncio.ensure_future(_generate(caller, alias, case)) for alias in rubric.models
    }

    async def for_model(alias: str) -> None:
        sample = await answers[alias]
        result.samples[alias] = sample
        routed = {g.name for g in rubric.graders if applies(g.when, case)}  # `when`
        single = [n for n in graders.single if n in routed]
        pairs = [n for n in graders.pairs if n in routed] if alias != rubric.baseline else []
        names = single + pairs
        if sample.error is not None:
            skipped = Grade(error=f"not graded: {alias} produced no answer")
            result.grades[alias] = dict.fromkeys(names, skipped)
            return
        jobs = [_safe_grade(graders.single[n](case, sample)) for n in single]
        jobs += [_pair(graders.pairs[n], case, answers[rubric.baseline], sample) for n in pairs]
        grades = await asyncio.gather(*jobs)
        result.grades[alias] = dict(zip(names, grades, strict=True))

    await asyncio.gather(*(for_model(alias) for alias in rubric.models))
    return result


async def _pair(
    grader: PairGraderFn, case: Case, baseline: asyncio.Future[Sample], sample: Sample
) -> Grade:
    base = await baseline
    if base.error is not None:
        return Grade(error="not graded: the baseline produced no answer")
    return await _safe_grade(grader(case, base, sample))


async def _generate(caller: Caller, alias: str, case: Case) -> Sample:
    """One answer per user turn, in order: a later turn is sent with the answers before it.
    A recording answers the first turn by case id; later turns by their whole prompt."""
    answers: list[CallResult] = []
    for turn in range(len(case.turns)):
        messages = case.conversation(tuple(a.text for a in answers))
        request = ModelRequest(
            alias=alias,
            purpose="generate",
            messages=tuple(m.as_dict() for m in messages),
            case_id=case.id if turn == 0 else "",
        )
        try:
            answers.append(await caller.call(request))
        except CallError as exc:
            where = f"turn {turn + 1}: " if case.followups else ""
            return Sample(alias=alias, error=f"{where}{exc}")
    return Sample(
        alias=alias,
        output_text=answers[-1].text,
        prompt_tokens=sum(a.usage.prompt_tokens for a in answers),
        completion_tokens=sum(a.usage.completion_tokens for a in answers),
        cached=all(a.cached for a in answers),
        turns=tuple(a.text for a in answers) if case.followups else (),
    )


async def _safe_grade(pending: Awaitable[Grade]) -> Grade:
    """A grader bug must mark its case, not abort the other 999."""
    try:
        return await pending
    except Exception as exc:  # reported on the case, with its type
        return Grade(error=f"grader raised {type(exc).__name__}: {exc}")


# --- noise_check: re-judge a sample of answers to measure the judge's own spread ---
# Users' first complaint about LLM judges is that the same answer scores differently on
# two runs; measuring that spread says how big a delta this many cases can detect.
# Repeats use a different cache key (a repeat index), so they are real new judgments.


def noise_grader(rubric: Rubric) -> ScoreModelGrader:
    check = rubric.noise_check
    assert check is not None
    for grader in rubric.graders:
        if isinstance(grader, ScoreModelGrader) and (check.grader in (None, grader.name)):
            return grader
    raise ValueError("noise_check needs a score_model grader")


async def measure_noise(run: RubricRun, caller: Caller) -> None:
    rubric = run.loaded.rubric
    check = rubric.noise_check
    assert check is not None
    spec = noise_grader(rubric)
    usable = [
        (case_id, alias)
        for case_id, result in run.cases.items()
        for alias in rubric.models
        if (grade := result.grade(alias, spec.name)) is not None and grade.ok
    ]
    case_ids = sorted({case_id for case_id, _ in usable})
    chosen = set(random.Random(BOOTSTRAP_SEED).sample(case_ids, min(check.cases, len(case_ids))))
    targets = [(c, a) for c, a in usable if c in chosen]
    repeats = [score_model(spec, caller, repeat=r) for r in range(1, check.repeats)]

    async def rejudge(case_id: str, alias: str) -> None:
        result = run.cases[case_id]
        grades = await asyncio.gather(
            *(grader(result.case, result.samples[alias]) for grader in repeats)
        )
        first = result.grade(alias, spec.name)
        assert first is not None and first.score is not None
        scores = [first.score] + [g.score for g in grades if g.ok and g.score is not None]
        run.noise[(case_id, alias)] = scores

    run.noise_grader = spec.name
    await asyncio.gather(*(rejudge(c, a) for c, a in targets))
