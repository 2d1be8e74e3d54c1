"""One configured SDK client per endpoint, one adaptive concurrency limit and one circuit
breaker per URL.

This module and `caller` are the only places that touch the openai SDK: every
provider (OpenAI, Azure OpenAI / Foundry, vLLM, Ollama, the embedded llama.cpp
server) goes through the same `AsyncOpenAI` code path.

The limit rule when several aliases share a URL (one server, one quota): the URL's limit
is the largest ``concurrency`` among the aliases on it, and each alias also keeps its own
``concurrency`` as a cap of its own. The order in which aliases first call never matters.
The SDK's own retries are off (``max_retries=0``): `health.call_with_retries` retries, so
that every attempt passes the limit and the breaker.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass

import openai

from deltajudge.generation.health import AdaptiveLimit, Breaker
from deltajudge.generation.request import endpoint_url
from deltajudge.settings import ModelConfig, Settings

_NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


@dataclass
class Endpoint:
    url: str
    client: openai.AsyncOpenAI
    limit: AdaptiveLimit
    breaker: Breaker


def _client(config: ModelConfig, settings: Settings) -> openai.AsyncOpenAI:
    key = os.environ.get(config.api_key_env) or _NO_KEY
    http_client = openai.DefaultAioHttpClient() if settings.transport == "aiohttp" else None
    timeout = openai.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    api_version = config.api_version or os.environ.get("OPENAI_API_VERSION")
    if config.provider == "azure" and api_version is not None:  # the dated API, as before v1
        return openai.AsyncAzureOpenAI(
            azure_endpoint=config.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT", ""),
            api_version=api_version,
            api_key=key,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
    return openai.AsyncOpenAI(
        base_url=azure_v1_url(config) if config.provider == "azure" else config.base_url,
        api_key=key,
        timeout=timeout,
        max_retries=0,
        http_client=http_client,
    )


def azure_v1_url(config: ModelConfig) -> str:
    """Azure OpenAI / Foundry's v1 API: ``https://RESOURCE.openai.azure.com/openai/v1/``,
    the plain OpenAI client, no ``api-version``. A bare resource URL gets the path added."""
    base = (config.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT", "")).rstrip("/")
    return base if base.endswith("/openai/v1") else f"{base}/openai/v1"


class Endpoints:
    """Clients, limits and breakers, created inside the running event loop and closed with it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._by_key: dict[tuple[str, str, str], Endpoint] = {}
        self._limits: dict[str, AdaptiveLimit] = {}
        self._breakers: dict[str, Breaker] = {}
        self._alias_caps: dict[str, asyncio.Semaphore] = {}

    def for_model(self, config: ModelConfig, every: Iterable[ModelConfig]) -> Endpoint:
        """The endpoint of ``config``; ``every`` is all the run's aliases, for the URL's
        limit (the largest concurrency among the aliases on that URL)."""
        url = endpoint_url(config)
        key = (config.provider, url, config.api_key_env)
        endpoint = self._by_key.get(key)
        if endpoint is None:
            limit = self._limits.get(url)
            if limit is None:
                ceiling = max(
                    self._concurrency(c) for c in [config, *every] if endpoint_url(c) == url
                )
                limit = self._limits[url] = AdaptiveLimit(ceiling)
            breaker = self._breakers.setdefault(url, Breaker(url))
            endpoint = Endpoint(url, _client(config, self._settings), limit, breaker)
            self._by_key[key] = endpoint
        return endpoint

    def alias_cap(self, alias: str, config: ModelConfig, endpoint: Endpoint) -> asyncio.Semaphore:
        """The alias's own cap (its ``concurrency``) under the URL's shared limit."""
        cap = self._alias_caps.get(alias)
        if cap is None:
            cap = self._alias_caps[alias] = asyncio.Semaphore(
                min(self._concurrency(config), endpoint.limit.ceiling)
            )
        return cap

    def breaker(self, url: str) -> Breaker:
        return self._breakers.setdefault(url.rstrip("/"), Breaker(url.rstrip("/")))

    def notes(self) -> list[str]:
        """What the run should say about its endpoints: which went down and why, and where
        429s lowered the concurrency."""
        out = [
            f"endpoint {url} went down: {b.down_reason}"
            for url, b in self._breakers.items()
            if b.down_reason is not None
        ]
        for url, limit in self._limits.items():
            if limit.throttles:
                out.append(
                    f"endpoint {url}: {limit.throttles} rate-limit answers (429); concurrency "
                    f"went from {limit.ceiling} down to {limit.lowest}"
                )
        return out

    def _concurrency(self, config: ModelConfig) -> int:
        return config.concurrency or self._settings.concurrency

    async def aclose(self) -> None:
        for endpoint in self._by_key.values():
            await endpoint.client.close()
        self._by_key.clear()
