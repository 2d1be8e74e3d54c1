"""The calls themselves, one function per API (chat, responses, completions).

Imported on the first call that the cache cannot answer, so a run replayed from the
cache never pays for importing the SDK.
"""

from __future__ import annotations

import json
import math
from typing import Any

import openai

from deltajudge.errors import CallError
from deltajudge.generation.request import CallResult, Usage
from deltajudge.settings import ModelConfig


async def send(
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
        if "connect" in str(exc.__cause__ or "").lower():  # aiohttp: refused looks like a timeout
            raise CallError(f"cannot reach {config.base_url or 'OpenAI'}: {exc.__cause__}") from exc
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
    for item in response.output or []:
        for part in getattr(item, "content", None) or []:
            if getattr(part, "type", None) == "refusal":
                raise CallError(f"{config.model} refused: {part.refusal}")
    if response.status == "incomplete":
        reason = response.incomplete_details.reason if response.incomplete_details else "unknown"
        raise CallError(f"{config.model} stopped before finishing ({reason})")
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


async def embed(client: openai.AsyncOpenAI, config: ModelConfig, texts: list[str]) -> CallResult:
    try:
        response = await client.embeddings.create(model=config.model, input=texts)
    except openai.APIError as exc:
        raise CallError(f"embeddings from {config.model}: {exc}") from exc
    vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
    usage = response.usage
    return CallResult(
        text=json.dumps(vectors),
        usage=Usage(usage.prompt_tokens, 0) if usage else Usage(),
    )
