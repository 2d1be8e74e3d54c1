"""The aiohttp application: routes, the request log, and how an answer is chosen.

Shared by the in-process `ScriptedServer` and the process form, so both behave the
same. Per-request work is kept small (one JSON parse, a rule scan, one JSON dump)
because benchmarks push thousands of requests through it on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from . import _payloads as payloads
from ._batch import BatchBackend
from ._embeddings import DEFAULT_DIMENSIONS, MAX_DIMENSIONS
from ._finetune import FineTuneBackend
from ._requests import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    RESPONSES,
    RecordedRequest,
    asks_structured_output,
    last_user_text,
    request_text,
    strings_in,
)
from ._rules import Reply, Rule, RuleBook

NO_JUDGE_RULE = "scripted server: no rule matched this judge request"
NO_STREAMING = "scripted server does not stream"
SHUTDOWN_TIMEOUT_S = 1.0
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_CHOICES = 128

_PREFIXES = ("/v1", "/openai/v1", "/openai", "")
_POST_ENDPOINTS = {
    "/chat/completions": CHAT,
    "/responses": RESPONSES,
    "/completions": COMPLETIONS,
    "/embeddings": EMBEDDINGS,
}
_AZURE_DEPLOYMENT = "/openai/deployments/{deployment}"
_DEPLOYMENT_ENDPOINTS = ("/chat/completions", "/completions", "/embeddings")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ScriptedApp:
    """Rules, latency and the request log behind one aiohttp application."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        latency_s: float = 0.0,
        record: bool = True,
        max_concurrent: int | None = None,
    ):
        self.rule_book = RuleBook(rules)
        self.latency_s = latency_s
        #: Like a provider's quota: requests beyond this many in flight get a 429.
        self.max_concurrent = max_concurrent
        self._in_flight = 0
        self._record = record
        self._log: list[RecordedRequest] = []
        self._log_lock = threading.Lock()
        self.finetune = FineTuneBackend(self._remember)
        self.batches = BatchBackend(self.finetune, self._remember, self.answer_line)

    def requests(self) -> list[RecordedRequest]:
        """A snapshot copy, so a test thread can read while the loop thread appends."""
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        for prefix in _PREFIXES:
            for suffix, endpoint in _POST_ENDPOINTS.items():
                app.router.add_post(prefix + suffix, self._endpoint(endpoint))
            app.router.add_get(prefix + "/models", self._models)
            app.router.add_get(prefix + "/models/{model}", self._model)
            self.finetune.add_routes(app.router, prefix)
            self.batches.add_routes(app.router, prefix)
        for suffix in _DEPLOYMENT_ENDPOINTS:
            app.router.add_post(_AZURE_DEPLOYMENT + suffix, self._endpoint(_POST_ENDPOINTS[suffix]))
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    def _endpoint(self, endpoint: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._post(request, endpoint)

        return handle

    async def _post(self, request: web.Request, endpoint: str) -> web.Response:
        try:
            body = _json_object(await request.read())
        except ValueError as exc:
            return _error(400, f"scripted server: request body is not a JSON object: {exc}")
        recorded = self._remember(request, endpoint, body)
        problem = _unservable(recorded)
        if problem is not None:
            return _error(400, problem)
        if self.max_concurrent is not None and self._in_flight >= self.max_concurrent:
            return _error(429, "scripted server: too many requests in flight", retry_after=1)
        self._in_flight += 1
        try:
            reply = self.rule_book.pick(recorded)
            delay = self.latency_s if reply is None or reply.delay_s is None else reply.delay_s
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                return _respond(recorded, reply)
            except Exception as exc:  # a user's reply callable failed: say so in the answer
                return _error(500, f"scripted server: reply raised {type(exc).__name__}: {exc}")
        finally:
            self._in_flight -= 1

    def answer_line(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        """One Batch line, answered by the same rules as a direct request to ``url``
        (Azure's ``/chat/completions`` is OpenAI's ``/v1/chat/completions``)."""
        endpoint = _POST_ENDPOINTS.get(url.removeprefix("/v1"), url)
        model = body.get("model")
        recorded = RecordedRequest(
            method="POST",
            path=url,
            endpoint=endpoint,
            model=model if isinstance(model, str) else None,
            body=body,
            headers={},
            text=request_text(endpoint, body),
            judge=asks_structured_output(endpoint, body),
        )
        problem = _unservable(recorded)
        try:
            response = (
                _error(400, problem)
                if problem
                else _respond(recorded, self.rule_book.pick(recorded))
            )
        except Exception as exc:  # a user's reply callable failed
            response = _error(500, f"scripted server: reply raised {type(exc).__name__}: {exc}")
        raw = response.body if isinstance(response.body, bytes) else b""
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def _remember(
        self, request: web.Request, endpoint: str, body: dict[str, Any]
    ) -> RecordedRequest:
        deployment = request.match_info.get("deployment")
        model = body.get("model")
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            endpoint=endpoint,
            model=deployment or (model if isinstance(model, str) else None),
            body=body,
            headers={key.lower(): value for key, value in request.headers.items()},
            text=request_text(endpoint, body),
            judge=asks_structured_output(endpoint, body),
        )
        if self._record:
            with self._log_lock:
                self._log.append(recorded)
        return recorded

    def _model_names(self) -> list[str]:
        return sorted({*self.rule_book.models(), "scripted"})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(payloads.model_list(self._model_names()))

    async def _model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in self._model_names():
            return _error(404, f"The model '{name}' does not exist")
        return web.json_response(payloads.model_entry(name))

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, f"scripted server: no route for {request.method} {request.path}")


def _json_object(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise ValueError(f"got {type(body).__name__}")
    return body


def _unservable(recorded: RecordedRequest) -> str | None:
    """Requests the real API would reject too, refused before any rule is used up."""
    if recorded.body.get("stream"):
        return NO_STREAMING
    if recorded.model is None:
        return "you must provide a model parameter"
    if recorded.endpoint == EMBEDDINGS and not list(strings_in(recorded.body.get("input"))):
        return "'input' must be a non-empty string or list"
    return None


def _error(status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(payloads.error_body(status, message), status=status, headers=headers)


def _respond(recorded: RecordedRequest, reply: Reply | None) -> web.Response:
    if reply is not None and reply.status != 200:
        return _error(reply.status, reply.error_message(recorded), reply.retry_after)
    if reply is not None and reply.raw is not None:
        return web.Response(body=reply.raw.encode(), content_type=reply.raw_type)
    if reply is None and recorded.judge:
        return _error(400, NO_JUDGE_RULE)
    return web.json_response(_body(recorded, reply))


def _body(recorded: RecordedRequest, reply: Reply | None) -> dict[str, Any]:
    model = recorded.model or "scripted"
    if recorded.endpoint == EMBEDDINGS:
        return _embeddings(recorded, model)
    answer = _answer(recorded, reply, model)
    if recorded.endpoint == CHAT:
        return payloads.chat_completion(answer)
    if recorded.endpoint == RESPONSES:
        return payloads.response(answer, recorded.body)
    return payloads.completion(answer)


def _answer(recorded: RecordedRequest, reply: Reply | None, model: str) -> payloads.Answer:
    refusal = reply.refusal if reply is not None else None
    content = None
    if refusal is None:
        content = reply.content(recorded) if reply is not None else None
        if content is None:
            content = f"[{model}] {last_user_text(recorded.endpoint, recorded.body)}"
    usage = reply.usage if reply is not None and reply.usage is not None else None
    if usage is None:
        usage = (len(recorded.text.split()), len((content or refusal or "").split()))
    return payloads.Answer(
        model=model,
        content=content,
        refusal=refusal,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        logprobs=_logprobs(recorded, reply),
        n=_choices(recorded.body),
    )


def _logprobs(recorded: RecordedRequest, reply: Reply | None) -> dict[str, Any] | None:
    """Only chat calls that ask for logprobs get them, as with the real API."""
    body = recorded.body
    if recorded.endpoint != CHAT or body.get("logprobs") is not True:
        return None
    if reply is None or not reply.logprobs:
        return None
    top_n = body.get("top_logprobs")
    return payloads.chat_logprobs(reply.logprobs, top_n if isinstance(top_n, int) else 0)


def _choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return max(1, min(n, MAX_CHOICES)) if isinstance(n, int) else 1


def _embeddings(recorded: RecordedRequest, model: str) -> dict[str, Any]:
    body = recorded.body
    dimensions = body.get("dimensions")
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        dimensions = DEFAULT_DIMENSIONS
    encoding = "base64" if body.get("encoding_format") == "base64" else "float"
    texts = list(strings_in(body.get("input")))
    return payloads.embeddings(model, texts, dimensions, encoding)


async def serve(
    app: ScriptedApp,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[int], None],
) -> None:
    """Serve until ``stop`` is set; ``on_ready`` gets the bound port once accepting."""
    runner = web.AppRunner(app.build(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        on_ready(int(runner.addresses[0][1]))
        await stop.wait()
    finally:
        await runner.cleanup()
