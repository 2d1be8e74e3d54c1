"""One configured SDK client per endpoint, and one concurrency limit per endpoint.

This module and `caller` are the only places that touch the openai SDK: every
provider (OpenAI, Azure OpenAI / Foundry, vLLM, Ollama, the embedded llama.cpp
server) goes through the same `AsyncOpenAI` code path.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import openai

from deltajudge.generation.request import endpoint_url
from deltajudge.settings import ModelConfig, Settings

_NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


@dataclass
class Endpoint:
    url: str
    client: openai.AsyncOpenAI
    limit: asyncio.Semaphore


def _client(config: ModelConfig, settings: Settings) -> openai.AsyncOpenAI:
    key = os.environ.get(config.api_key_env) or _NO_KEY
    http_client = openai.DefaultAioHttpClient() if settings.transport == "aiohttp" else None
    if config.provider == "azure":
        return openai.AsyncAzureOpenAI(
            azure_endpoint=config.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT", ""),
            api_version=config.api_version or os.environ.get("OPENAI_API_VERSION", "2024-10-21"),
            api_key=key,
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            http_client=http_client,
        )
    return openai.AsyncOpenAI(
        base_url=config.base_url,
        api_key=key,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        http_client=http_client,
    )


class Endpoints:
    """Clients and semaphores, created inside the running event loop and closed with it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._by_key: dict[tuple[str, str, str], Endpoint] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}

    def for_model(self, config: ModelConfig) -> Endpoint:
        url = endpoint_url(config)
        key = (config.provider, url, config.api_key_env)
        endpoint = self._by_key.get(key)
        if endpoint is None:
            limit = self._limits.get(url)
            if limit is None:
                limit = asyncio.Semaphore(config.concurrency or self._settings.concurrency)
                self._limits[url] = limit
            endpoint = Endpoint(url=url, client=_client(config, self._settings), limit=limit)
            self._by_key[key] = endpoint
        return endpoint

    async def aclose(self) -> None:
        for endpoint in self._by_key.values():
            await endpoint.client.close()
        self._by_key.clear()
