"""`Caller`: the one path every model call takes: cache, concurrency limit, SDK, cache.

The SDK does retries with Retry-After and timeouts itself; this module adds what a
harness needs on top: per-endpoint concurrency, the write-through cache, offline
replay, token accounting per alias, and errors turned into `CallError` with a reason.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
import openai

from deltajudge.errors import CallError, OfflineMiss
from deltajudge.generation.cache import ResponseCache, Table
from deltajudge.generation.endpoints import Endpoints, endpoint_url
from deltajudge.generation.request import CallResult, ModelRequest, Usage, cache_key
from deltajudge.settings import ModelConfig, Settings

_TEMPLATES = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


class TokenTally:
    """Tokens per alias, split into spent (called) and replayed (from the cache)."""

    def __init__(self) -> None:
        self.spent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.cached: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, alias: str, result: CallResult) -> None:
        row = (self.cached if result.cached else self.spent)[alias]
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
    ) -> None:
        self.models = dict(models)
        self._settings = settings
        self._cache = cache
        self._endpoints = Endpoints(settings)
        self.tokens = TokenTally()
        self.calls = 0
        self._inflight: dict[str, asyncio.Future[CallResult]] = {}

    async def aclose(self) -> None:
        await self._endpoints.aclose()

    async def call(
        self, request: ModelRequest, accept: Callable[[CallResult], object] | None = None
    ) -> CallResult:
        """Answer from the cache or the endpoint.

        ``accept`` vets a fresh answer before it is cached (a judge answer with no
        score raises there), so that only usable answers are ever replayed.
        """
        config = self.models[request.alias]
        payload = self._payload(config, request)
        table: Table = "generations" if request.purpose == "generate" else "judgments"
        key = cache_key(endpoint_url(config), config.api, config.model, payload)
        cached = self._cache.get(table, key) if self._cache else None
        if cached is not None:
            self.tokens.add(request.alias, cached)
            return cached
        if self._settings.offline:
            raise OfflineMiss(
                f"--dj-offline: no cached answer for {request.alias} ({config.model})"
            )
        pending = self._inflight.get(key)
        if pending is not None:  # the same request is already under way: share its answer
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._fresh(request, config, payload, table, key, accept))
        self._inflight[key] = task
        try:
            return await asyncio.shield(task)
        finally:
            self._inflight.pop(key, None)

    async def _fresh(
        self,
        request: ModelRequest,
        config: ModelConfig,
        payload: dict[str, Any],
        table: Table,
        key: str,
        accept: Callable[[CallResult], object] | None,
    ) -> CallResult:
        endpoint = self._endpoints.for_model(config)
        async with endpoint.limit:
            self.calls += 1
            result = await _send(endpoint.client, config, payload)
        self.tokens.add(request.alias, result)
        if accept is not None:
            accept(result)
        if self._cache is not None:
            self._cache.put(table, key, result)
        return result

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


async def _send(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    try:
        if config.api == "responses":
            return await _responses(client, config, payload)
        if config.api == "completions":
            return await _completions(client, config, payload)
        return await _chat(client, config, payload)
    except openai.APIStatusError as exc:
        raise CallError(f"HTTP {exc.status_code} from {config.model}: {_api_message(exc)}") from exc
    except openai.APITimeoutError as exc:
        raise CallError(f"timed out calling {config.model}") from exc
    except openai.APIConnectionError as exc:
        raise CallError(f"cannot reach {config.base_url or 'OpenAI'}: {exc}") from exc


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message


def _sampling(config: ModelConfig, params: dict[str, Any], *, chat: bool) -> dict[str, Any]:
    """Map our neutral `max_output_tokens` onto each API's own name for it."""
    out = dict(params)
    limit = out.pop("max_output_tokens", None)
    if limit is not None:
        if not chat:
            out["max_tokens"] = limit
        elif config.base_url is None:
            out["max_completion_tokens"] = limit
        else:
            out["max_tokens"] = limit
    return out


async def _chat(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    extra = _sampling(config, payload["params"], chat=True)
    if "json_schema" in payload:
        extra["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "grade", "schema": payload["json_schema"], "strict": True},
        }
    if "top_logprobs" in payload:
        extra["logprobs"] = True
        extra["top_logprobs"] = payload["top_logprobs"]
    response = await client.chat.completions.create(
        model=config.model, messages=payload["messages"], **extra
    )
    if not response.choices:
        raise CallError(f"{config.model} returned no choices")
    choice = response.choices[0]
    if choice.message.refusal:
        raise CallError(f"{config.model} refused: {choice.message.refusal}")
    if choice.message.content is None:
        raise CallError(
            f"{config.model} returned no content (finish_reason={choice.finish_reason})"
        )
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.content:
        logprobs = tuple(
            {top.token: top.logprob for top in token.top_logprobs} or {token.token: token.logprob}
            for token in choice.logprobs.content
        )
    usage = response.usage
    return CallResult(
        text=choice.message.content,
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        top_logprobs=logprobs,
    )


async def _responses(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    extra = dict(payload["params"])
    if "json_schema" in payload:
        extra["text"] = {
            "format": {
                "type": "json_schema",
                "name": "grade",
                "schema": payload["json_schema"],
                "strict": True,
            }
        }
    if "top_logprobs" in payload:
        extra["top_logprobs"] = payload["top_logprobs"]
        extra["include"] = ["message.output_text.logprobs"]
    response = await client.responses.create(model=config.model, input=payload["messages"], **extra)
    if response.error is not None:
        raise CallError(f"{config.model}: {response.error.message}")
    logprobs = _responses_logprobs(response)
    usage = response.usage
    return CallResult(
        text=response.output_text,
        usage=Usage(usage.input_tokens, usage.output_tokens) if usage else Usage(),
        top_logprobs=logprobs,
    )


def _responses_logprobs(response: Any) -> tuple[dict[str, float], ...] | None:
    for item in response.output or []:
        for part in getattr(item, "content", None) or []:
            tokens = getattr(part, "logprobs", None)
            if tokens:
                return tuple(
                    {top.token: top.logprob for top in (t.top_logprobs or [])}
                    or {t.token: t.logprob}
                    for t in tokens
                )
    return None


async def _completions(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    extra = _sampling(config, payload["params"], chat=False)
    if "stop" in payload:
        extra["stop"] = payload["stop"]
    if "top_logprobs" in payload:
        extra["logprobs"] = payload["top_logprobs"]
    response = await client.completions.create(
        model=config.model, prompt=payload["prompt"], **extra
    )
    if not response.choices:
        raise CallError(f"{config.model} returned no choices")
    choice = response.choices[0]
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.top_logprobs:
        logprobs = tuple(
            {k: v for k, v in top.items() if not math.isnan(v)}
            for top in choice.logprobs.top_logprobs
            if top
        )
    usage = response.usage
    return CallResult(
        text=choice.text.strip(),
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        top_logprobs=logprobs,
    )
