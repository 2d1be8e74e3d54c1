"""Response bodies in the shapes the openai SDK parses.

Every body carries the fields the SDK's pydantic models require (checked against the
SDK's ``types/``), so code under test reads them exactly as it reads real answers.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._embeddings import embed, encode

_ids = itertools.count(1)

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", None),
    408: ("timeout_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


@dataclass(frozen=True)
class Answer:
    """One generated answer, whatever endpoint it is shaped for."""

    model: str
    content: str | None
    refusal: str | None
    prompt_tokens: int
    completion_tokens: int
    logprobs: dict[str, Any] | None = None
    n: int = 1


def _next_id(prefix: str) -> str:
    return f"{prefix}-scripted-{next(_ids)}"


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "api_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _chat_usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def chat_completion(answer: Answer) -> dict[str, Any]:
    message = {"role": "assistant", "content": answer.content, "refusal": answer.refusal}
    choices = [
        {"index": i, "message": message, "finish_reason": "stop", "logprobs": answer.logprobs}
        for i in range(answer.n)
    ]
    return {
        "id": _next_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": choices,
        "usage": _chat_usage(answer),
    }


def chat_logprobs(steps: Sequence[Mapping[str, float]], top_n: int) -> dict[str, Any]:
    """One entry per scripted token: the likeliest token, and the top ``top_n`` alternatives."""
    content = []
    for step in steps:
        ranked = sorted(step.items(), key=lambda item: item[1], reverse=True)
        alternatives = [_token(token, prob) for token, prob in ranked]
        content.append({**alternatives[0], "top_logprobs": alternatives[:top_n]})
    return {"content": content, "refusal": None}


def _token(token: str, probability: float) -> dict[str, Any]:
    return {"token": token, "logprob": math.log(probability), "bytes": list(token.encode())}


def completion(answer: Answer) -> dict[str, Any]:
    choices = [
        {"index": i, "text": answer.content or "", "finish_reason": "stop", "logprobs": None}
        for i in range(answer.n)
    ]
    return {
        "id": _next_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": choices,
        "usage": _chat_usage(answer),
    }


def _output_part(answer: Answer) -> dict[str, Any]:
    if answer.refusal is not None:
        return {"type": "refusal", "refusal": answer.refusal}
    return {"type": "output_text", "text": answer.content or "", "annotations": []}


def response(answer: Answer, body: Mapping[str, Any]) -> dict[str, Any]:
    message = {
        "type": "message",
        "id": _next_id("msg"),
        "role": "assistant",
        "status": "completed",
        "content": [_output_part(answer)],
    }
    return {
        "id": _next_id("resp"),
        "object": "response",
        "created_at": time.time(),
        "model": answer.model,
        "status": "completed",
        "output": [message],
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": _response_usage(answer),
    }


def _response_usage(answer: Answer) -> dict[str, Any]:
    return {
        "input_tokens": answer.prompt_tokens,
        "output_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def embeddings(model: str, texts: Sequence[str], dimensions: int, encoding: str) -> dict[str, Any]:
    """Float lists, or base64 float32 when asked (the SDK asks for base64 by default)."""
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, dimensions)
        value: object = encode(vector) if encoding == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(len(text.split()) for text in texts)
    return {
        "object": "list",
        "model": model,
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def model_list(models: Sequence[str]) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(name) for name in models]}


def model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "deltajudge-scripted"}
