"""The calls themselves, one function per API (chat, responses, completions).

Imported on the first call that the cache cannot answer, so a run replayed from the
cache never pays for importing the SDK.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable
from typing import Any

import openai
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from deltajudge.errors import CallError
from deltajudge.generation.request import CallResult, Usage
from deltajudge.settings import ModelConfig


async def send(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    """One attempt at a call. Every way it can go wrong ends as a `CallError` whose flags
    say whether to retry and whether the endpoint itself is at fault (`health`)."""
    if config.api == "responses":
        return await _guarded(config, _responses(client, config, payload))
    if config.api == "completions":
        return await _guarded(config, _completions(client, config, payload))
    return await _guarded(config, _chat(client, config, payload))


async def embed(client: openai.AsyncOpenAI, config: ModelConfig, texts: list[str]) -> CallResult:
    return await _guarded(config, _embed(client, config, texts))


async def _guarded(config: ModelConfig, call: Awaitable[CallResult]) -> CallResult:
    try:
        return await call
    except CallError:
        raise
    except openai.APIStatusError as exc:
        raise _status_error(config, exc) from exc
    except openai.APITimeoutError as exc:
        if "connect" in str(exc.__cause__ or "").lower():  # aiohttp: refused looks like a timeout
            raise _unreachable(config, exc.__cause__) from exc
        raise CallError(
            f"timed out calling {config.model}", transient=True, endpoint_fault=True
        ) from exc
    except openai.APIConnectionError as exc:
        raise _unreachable(config, exc) from exc
    except Exception as exc:  # a 200 the SDK cannot use: bad JSON, HTML, wrong shape, empty
        raise CallError(
            f"unusable response from {config.model} ({type(exc).__name__}: {_excerpt(str(exc))})",
            transient=True,
        ) from exc


def _status_error(config: ModelConfig, exc: openai.APIStatusError) -> CallError:
    status = exc.status_code
    message = f"HTTP {status} from {config.model}: {_api_message(exc)}"
    if status == 401:
        return CallError(message, fatal=True)
    return CallError(
        message,
        transient=status in (408, 409, 429) or status >= 500,
        endpoint_fault=status == 403,
        throttled=status == 429,
        retry_after=_retry_after(exc.response.headers),
    )


def _unreachable(config: ModelConfig, cause: object) -> CallError:
    where = config.base_url or "OpenAI"
    return CallError(f"cannot reach {where}: {cause}", transient=True, endpoint_fault=True)


def _retry_after(headers: Any) -> float | None:
    """The server's wait: ``retry-after-ms`` (OpenAI, Azure) or ``Retry-After`` seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from APIs, and our own backoff is fine then
        if 0 <= seconds <= 120:
            return seconds
    return None


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def _chat_body(config: ModelConfig, payload: dict[str, Any]) -> dict[str, Any]:
    body = {"model": config.model, "messages": payload["messages"]}
    body.update(_sampling(config, payload["params"], chat=True))
    if "json_schema" in payload:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "grade", "schema": payload["json_schema"], "strict": True},
        }
    if "top_logprobs" in payload:
        body["logprobs"] = True
        body["top_logprobs"] = payload["top_logprobs"]
    return body


async def _chat(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    response = await client.chat.completions.create(**_chat_body(config, payload))
    return _chat_result(config, response)


def _chat_result(config: ModelConfig, response: ChatCompletion) -> CallResult:
    if not response.choices:
        raise CallError(f"{config.model} returned no choices", transient=True)
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


def _responses_body(config: ModelConfig, payload: dict[str, Any]) -> dict[str, Any]:
    body = {"model": config.model, "input": payload["messages"], **payload["params"]}
    if "json_schema" in payload:
        body["text"] = {
            "format": {
                "type": "json_schema",
                "name": "grade",
                "schema": payload["json_schema"],
                "strict": True,
            }
        }
    if "top_logprobs" in payload:
        body["top_logprobs"] = payload["top_logprobs"]
        body["include"] = ["message.output_text.logprobs"]
    return body


async def _responses(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    response = await client.responses.create(**_responses_body(config, payload))
    return _responses_result(config, response)


def _responses_result(config: ModelConfig, response: Response) -> CallResult:
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


def _completions_body(config: ModelConfig, payload: dict[str, Any]) -> dict[str, Any]:
    body = {"model": config.model, "prompt": payload["prompt"]}
    body.update(_sampling(config, payload["params"], chat=False))
    if "stop" in payload:
        body["stop"] = payload["stop"]
    if "top_logprobs" in payload:
        body["logprobs"] = payload["top_logprobs"]
    return body


async def _completions(
    client: openai.AsyncOpenAI, config: ModelConfig, payload: dict[str, Any]
) -> CallResult:
    response = await client.completions.create(**_completions_body(config, payload))
    return _completions_result(config, response)


def _completions_result(config: ModelConfig, response: Completion) -> CallResult:
    if not response.choices:
        raise CallError(f"{config.model} returned no choices", transient=True)
    choice = response.choices[0]
    usage = response.usage
    return CallResult(
        text=choice.text.strip(),
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        top_logprobs=_completion_logprobs(choice.logprobs),
    )


def _completion_logprobs(logprobs: Any) -> tuple[dict[str, float], ...] | None:
    """Per generated token, token -> logprob. The legacy completions shape
    (``top_logprobs``: one dict per token) or llama.cpp's server, which answers
    ``/v1/completions`` in the chat shape (``content``: a list of tokens, each with its
    ``top_logprobs``), kept by the SDK as an extra field."""
    if logprobs is None:
        return None
    if logprobs.top_logprobs:
        return tuple(
            {k: v for k, v in top.items() if not math.isnan(v)}
            for top in logprobs.top_logprobs
            if top
        )
    content = (logprobs.model_extra or {}).get("content")
    if not isinstance(content, list) or not content:
        return None
    return tuple(
        {t["token"]: t["logprob"] for t in token.get("top_logprobs") or ()}
        or {token["token"]: token["logprob"]}
        for token in content
    )


async def _embed(client: openai.AsyncOpenAI, config: ModelConfig, texts: list[str]) -> CallResult:
    response = await client.embeddings.create(model=config.model, input=texts)
    return _embeddings_result(response)


def _embeddings_result(response: CreateEmbeddingResponse) -> CallResult:
    vectors = [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
    usage = response.usage
    return CallResult(
        text=json.dumps(vectors),
        usage=Usage(usage.prompt_tokens, 0) if usage else Usage(),
    )


# --- the same bodies and answers for Batch API lines (`deltajudge.generation.batch`) ---

#: API -> the OpenAI path a Batch input line names in ``url``.
BATCH_URLS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}


def batch_body(config: ModelConfig, payload: dict[str, Any]) -> dict[str, Any]:
    """The body a direct call would send, for a Batch input line: one builder for both,
    so a batched answer is the answer the direct call would have got."""
    if "embed" in payload:
        return {"model": config.model, "input": payload["embed"]}
    if config.api == "responses":
        return _responses_body(config, payload)
    if config.api == "completions":
        return _completions_body(config, payload)
    return _chat_body(config, payload)


def batch_result(config: ModelConfig, api: str, body: dict[str, Any]) -> CallResult:
    """A Batch output line's response body, read as the direct call reads its answer
    (a refusal or an empty answer is the same `CallError`)."""
    try:
        if api == "embeddings":
            return _embeddings_result(CreateEmbeddingResponse.model_validate(body))
        if api == "responses":
            return _responses_result(config, Response.model_validate(body))
        if api == "completions":
            return _completions_result(config, Completion.model_validate(body))
        return _chat_result(config, ChatCompletion.model_validate(body))
    except CallError:
        raise
    except Exception as exc:  # the wrong shape: what a broken endpoint would send directly
        raise CallError(
            f"unusable batch answer from {config.model} ({type(exc).__name__}: "
            f"{_excerpt(str(exc))})"
        ) from exc
