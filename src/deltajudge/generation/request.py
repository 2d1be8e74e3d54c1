"""`ModelRequest`: one call to a model, in a canonical form the cache can key on."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from deltajudge.settings import ModelConfig

OPENAI_URL = "https://api.openai.com/v1"

Purpose = Literal["generate", "judge"]


@dataclass(frozen=True)
class ModelRequest:
    """Everything that decides a model's answer, and nothing secret.

    ``sample_index`` separates deliberate repeats (judge ``samples: k``, noise checks),
    which must not be answered from one cache entry.
    """

    alias: str
    purpose: Purpose
    messages: tuple[dict[str, str], ...]
    json_schema: dict[str, Any] | None = None
    top_logprobs: int | None = None
    sample_index: int = 0
    extra_params: dict[str, Any] = field(default_factory=dict)
    #: Anything else that must change the cache key, e.g. a grader definition's hash.
    cache_tag: str = ""
    #: The case asked (not part of the cache key): a recording answers by case id.
    case_id: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class CallResult:
    """A finished call. ``top_logprobs`` holds, per output token, token -> logprob."""

    text: str
    usage: Usage
    top_logprobs: tuple[dict[str, float], ...] | None = None
    cached: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "text": self.text,
                "usage": [self.usage.prompt_tokens, self.usage.completion_tokens],
                "top_logprobs": list(self.top_logprobs) if self.top_logprobs else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> CallResult:
        data = json.loads(raw)
        logprobs = data.get("top_logprobs")
        return cls(
            text=data["text"],
            usage=Usage(*data["usage"]),
            top_logprobs=tuple(logprobs) if logprobs else None,
            cached=True,
        )


def cache_key(endpoint_url: str, api: str, model: str, payload: dict[str, Any]) -> str:
    """Hash of the canonical request. The API key is never part of it."""
    canonical = json.dumps(
        {"url": endpoint_url, "api": api, "model": model, **payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def endpoint_url(config: ModelConfig) -> str:
    return (config.base_url or OPENAI_URL).rstrip("/")


def answerer(config: ModelConfig) -> str:
    """Who answers, for the cache key: the endpoint, or for a local server (which gets a
    new port every session) the model file and the settings that shape its answers."""
    if config.provider == "local":
        path = config.model_path or "embedded"
        return f"local:llama.cpp:{path}:ctx={config.n_ctx}:{config.chat_format}"
    return endpoint_url(config)
