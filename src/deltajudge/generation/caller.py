"""`Caller`: the one path every model call takes: cache, limits, retries, SDK, cache.

The SDK turns requests into HTTP; this module adds what a harness needs on top: the
write-through cache, offline replay, one shared request for identical calls, token
accounting per alias, and (through `health`) adaptive per-endpoint concurrency, retries
with jitter, and a circuit breaker that ends the calls to an endpoint that is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2

from deltajudge.errors import OfflineMiss
from deltajudge.generation.cache import ResponseCache, Table
from deltajudge.generation.request import CallResult, ModelRequest, answerer, cache_key
from deltajudge.settings import ModelConfig, Settings

if TYPE_CHECKING:
    import openai

    from deltajudge.generation.batch import BatchRuns
    from deltajudge.generation.endpoints import Endpoint, Endpoints


@dataclass(frozen=True)
class LocalStart:
    """A started local server: the alias's config with its ``base_url``, and a cheap
    check that returns None while the server runs and the story of its death after."""

    config: ModelConfig
    exit_report: Callable[[], str | None]


#: Starts an alias's local server.
StartLocal = Callable[[str, ModelConfig], Awaitable[LocalStart]]

#: How often a local server's process is checked while calls to it are possible.
LOCAL_WATCH_S = 0.2

_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


class TokenTally:
    """Tokens per alias, split into spent (called) and replayed (from the cache)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.cached: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        #: The part of ``spent`` answered by a Batch API (billed at `BATCH_PRICE_FACTOR`).
        self.batched: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, alias: str, result: CallResult) -> None:
        row = (self.cached if result.cached else self.spent)[alias]
        row[0] += result.usage.prompt_tokens
        row[1] += result.usage.completion_tokens
        row[2] += 1

    def add_batched(self, alias: str, result: CallResult) -> None:
        row = self.batched[alias]
        row[0] += result.usage.prompt_tokens
        row[1] += result.usage.completion_tokens
        row[2] += 1


def render_prompt(template: str, messages: tuple[dict[str, str], ...]) -> str:
    """`api: completions` sends one prompt: the alias's template renders the conversation."""
    system = next((m["content"] for m in messages if m["role"] in ("system", "developer")), "")
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return _TEMPLATES.from_string(template).render(
        messages=[m for m in messages if m["role"] not in ("system", "developer")],
        system=system,
        prompt=prompt,
    )


class Caller:
    def __init__(
        self,
        models: Mapping[str, ModelConfig],
        settings: Settings,
        cache: ResponseCache | None,
        start_local: StartLocal | None = None,
    ) -> None:
        self.models = dict(models)
        self._settings = settings
        self._cache = cache
        self._endpoints: Endpoints | None = None
        self.tokens = TokenTally()
        self.calls = 0
        #: ``--dj-batch``: cache misses go to the Batch API instead of the endpoint.
        self.batch: BatchRuns | None = None
        self._inflight: dict[str, asyncio.Future[CallResult]] = {}
        self._start_local = start_local
        self._starting: dict[str, asyncio.Lock] = {}
        self._started: set[str] = set()
        self._watchers: list[asyncio.Task[None]] = []

    async def aclose(self) -> None:
        """Stop what is still running (an interrupted run leaves calls in flight) before the
        clients close, so no task outlives them to fail with "client has been closed"."""
        pending: list[asyncio.Future[Any]] = [*self._watchers, *self._inflight.values()]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._endpoints is not None:
            await self._endpoints.aclose()

    @property
    def cache_hits(self) -> int:
        return self._cache.hits if self._cache is not None else 0

    def notes(self) -> list[str]:
        """What the run's summary should say once about its endpoints (down, throttled)."""
        return self._endpoints.notes() if self._endpoints is not None else []

    async def call(
        self, request: ModelRequest, accept: Callable[[CallResult], object] | None = None
    ) -> CallResult:
        """Answer from the cache or the endpoint.

        ``accept`` vets a fresh answer before it is cached (a judge answer with no
        score raises there), so that only usable answers are ever replayed.
        """
        alias = request.alias
        config = self.models[alias]
        if config.provider == "recorded":  # answers from a file: no endpoint, no cache
            from deltajudge.generation.recorded import answer_from_recording

            return answer_from_recording(config, request)
        payload, table, key = self._keyed(config, request)

        async def ask(endpoint: Endpoint) -> CallResult:
            from deltajudge.generation.sdk import send

            return await send(endpoint.client, self.models[alias], payload)

        what = f"answer for {alias} ({config.model})"
        return await self._answer(alias, table, key, ask, accept, what, (config.api, payload))

    def peek(self, request: ModelRequest) -> bool:
        """Whether the cache holds this request's answer (nothing is called or counted)."""
        config = self.models[request.alias]
        if self._cache is None or config.provider == "recorded":
            return False
        _, table, key = self._keyed(config, request)
        return self._cache.has(table, key)

    def _keyed(
        self, config: ModelConfig, request: ModelRequest
    ) -> tuple[dict[str, Any], Table, str]:
        """The request's body, its cache table and its cache key."""
        payload = self._payload(config, request)
        table: Table = "generations" if request.purpose == "generate" else "judgments"
        return payload, table, cache_key(answerer(config), config.api, config.model, payload)

    async def _answer(
        self,
        alias: str,
        table: Table,
        key: str,
        ask: Callable[[Endpoint], Awaitable[CallResult]],
        accept: Callable[[CallResult], object] | None,
        what: str,
        batched: tuple[str, dict[str, Any]] | None = None,
    ) -> CallResult:
        """The one path every call takes: cache, offline check, shared in-flight request,
        endpoint limit, vetting, write-through."""
        cached = self._cache.get(table, key) if self._cache else None
        if cached is not None:
            self.tokens.add(alias, cached)
            return cached
        if self._settings.offline:
            raise OfflineMiss(f"--dj-offline: no cached {what}")
        if self.batch is not None and batched is not None and self.batch.takes(alias):
            return self._from_batch(alias, table, key, accept, batched)
        pending = self._inflight.get(key)
        if pending is not None:  # the same request is already under way: share its answer
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._fresh(alias, table, key, ask, accept))
        self._inflight[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            self._inflight.pop(key, None)

    async def _fresh(
        self,
        alias: str,
        table: Table,
        key: str,
        ask: Callable[[Endpoint], Awaitable[CallResult]],
        accept: Callable[[CallResult], object] | None,
    ) -> CallResult:
        from deltajudge.generation.health import call_with_retries

        endpoint = await self._endpoint(alias)
        assert self._endpoints is not None
        async with self._endpoints.alias_cap(alias, self.models[alias], endpoint):
            result = await call_with_retries(
                lambda: ask(endpoint),
                limit=endpoint.limit,
                breaker=endpoint.breaker,
                max_retries=self._settings.max_retries,
                on_attempt=self._count_attempt,
            )
        self.tokens.add(alias, result)
        if accept is not None:
            accept(result)
        if self._cache is not None:
            self._cache.put(table, key, result)
        return result

    def _from_batch(
        self,
        alias: str,
        table: Table,
        key: str,
        accept: Callable[[CallResult], object] | None,
        batched: tuple[str, dict[str, Any]],
    ) -> CallResult:
        """A miss in batch mode: the downloaded answer, vetted and cached like a fresh
        one, or `BatchPending` (the request goes into a batch; the case waits)."""
        assert self.batch is not None
        api, payload = batched
        phase = "answers" if table == "generations" else "judgments"
        result = self.batch.answer(alias, key, api, payload, phase)
        self.tokens.add(alias, result)
        self.tokens.add_batched(alias, result)
        if accept is not None:
            accept(result)
        if self._cache is not None:
            self._cache.put(table, key, result)
        return result

    async def client(self, alias: str) -> openai.AsyncOpenAI:
        """The alias's SDK client, for the Files and Batches calls of a batch run."""
        return (await self._endpoint(alias)).client

    def cost_usd(self, alias: str) -> float | None:
        """USD for the alias's calls made so far, from its tokens spent; None when its
        price is unknown (cached answers are free)."""
        from deltajudge.generation.pricing import price_for

        price = price_for(self.models[alias], self._settings)
        if price is None:
            return None
        from deltajudge.generation.pricing import BATCH_PRICE_FACTOR

        prompt, completion, _calls = self.tokens.spent.get(alias, [0, 0, 0])
        batch_prompt, batch_completion, _ = self.tokens.batched.get(alias, [0, 0, 0])
        discount = (1 - BATCH_PRICE_FACTOR) * price.of(batch_prompt, batch_completion)
        return price.of(prompt, completion) - discount

    def spent_usd(self) -> float:
        """USD for every call made so far (aliases whose price is unknown add nothing)."""
        return sum(cost for alias in self.tokens.spent if (cost := self.cost_usd(alias)))

    def over_budget(self) -> bool:
        """True once the run's spending cap (``max_cost``) is reached."""
        cap = self._settings.max_cost
        return cap is not None and self.spent_usd() >= cap

    def _count_attempt(self) -> None:
        self.calls += 1  # every attempt: the number of requests the endpoints received

    def cases_in_flight(self) -> int:
        """How many cases to work on at once: four per request slot of every endpoint
        (a case makes several requests, in two steps: answer, then grade)."""
        slots: dict[str, int] = {}
        for config in self.models.values():
            limit = config.concurrency or self._settings.concurrency
            url = answerer(config)
            slots[url] = max(slots.get(url, 0), limit)
        return 4 * sum(slots.values())

    async def _endpoint(self, alias: str) -> Endpoint:
        """The alias's client and limit; a local model's server starts on its first miss,
        so a run the cache answers whole never loads a model."""
        if self._endpoints is None:
            from deltajudge.generation.endpoints import Endpoints

            # The SDK's ~700 pydantic classes and this run's cases live to the end: frozen,
            # no collection walks them again (with the SDK loaded each full pass costs
            # ~0.1 s; pytest makes two at exit). The pytest shell unfreezes at its cleanup.
            gc.freeze()
            self._endpoints = Endpoints(self._settings)
        if self.models[alias].provider == "local" and alias not in self._started:
            async with self._starting.setdefault(alias, asyncio.Lock()):
                if alias not in self._started and self._start_local is not None:
                    started = await self._start_local(alias, self.models[alias])
                    self.models[alias] = started.config
                    self._watch(started)
                self._started.add(alias)
        return self._endpoints.for_model(self.models[alias], self.models.values())

    def _watch(self, started: LocalStart) -> None:
        """Poll a local server's process: once it has exited, its endpoint is down, and
        every call in flight or to come ends at once with what happened."""
        assert self._endpoints is not None and started.config.base_url is not None
        breaker = self._endpoints.breaker(started.config.base_url)
        if any(w.get_name() == breaker.name for w in self._watchers):
            return  # another alias of the same server is already watched

        async def watch() -> None:
            while (report := started.exit_report()) is None:
                await asyncio.sleep(LOCAL_WATCH_S)
            breaker.mark_down(report)

        self._watchers.append(asyncio.get_running_loop().create_task(watch(), name=breaker.name))

    async def embed(self, alias: str, texts: tuple[str, ...]) -> list[list[float]]:
        """Embeddings through the alias's endpoint, cached like a judgment."""
        config = self.models[alias]
        key = cache_key(answerer(config), "embeddings", config.model, {"embed": list(texts)})

        async def ask(endpoint: Endpoint) -> CallResult:
            from deltajudge.generation.sdk import embed

            return await embed(endpoint.client, self.models[alias], list(texts))

        what, payload = f"embeddings for {alias}", {"embed": list(texts)}
        result = await self._answer(
            alias, "judgments", key, ask, None, what, ("embeddings", payload)
        )
        vectors: list[list[float]] = json.loads(result.text)
        return vectors

    def _payload(self, config: ModelConfig, request: ModelRequest) -> dict[str, Any]:
        """The canonical request body; also what the cache key hashes."""
        messages = request.messages
        if request.purpose == "generate" and config.system is not None:
            messages = (
                {"role": "system", "content": config.system},
                *(m for m in messages if m["role"] not in ("system", "developer")),
            )
        params = {**config.params, **request.extra_params}
        payload: dict[str, Any] = {"params": params, "sample": request.sample_index}
        if request.cache_tag:
            payload["tag"] = request.cache_tag
        if config.api == "completions":
            template = config.prompt_template or "{{ system }}\n\n{{ prompt }}\n"
            payload["prompt"] = render_prompt(template, messages)
            if config.stop:
                payload["stop"] = config.stop
        else:
            payload["messages"] = list(messages)
        if request.json_schema is not None and config.api != "completions":
            payload["json_schema"] = request.json_schema
        if request.top_logprobs:
            payload["top_logprobs"] = request.top_logprobs
        return payload
