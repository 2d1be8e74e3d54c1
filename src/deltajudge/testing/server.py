"""`ScriptedServer`: a scripted OpenAI-compatible HTTP server on loopback.

Tests drive the real openai SDK against it (``AsyncOpenAI(base_url=server.url)``), so
retries, timeouts, response parsing and transport all run as in production; only the
model is scripted. It runs on its own thread and event loop, so it works from
synchronous tests, from async tests (whose loop it never touches), and from pytester.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from ._app import ScriptedApp, serve
from ._batch import BatchBackend
from ._finetune import FineTuneBackend
from ._requests import RecordedRequest
from ._rules import Rule
from ._script import load_script


class ScriptedServer:
    """Answers OpenAI API calls from rules, with defaults that keep scripts short.

    Without a matching rule, a generation call answers ``"[<model>] <last user message>"``
    (the prompt, for completions) and a judge call (one asking for structured output)
    fails with HTTP 400 ``"scripted server: no rule matched this judge request"``, so a
    forgotten judge rule is loud rather than a silent score. Embeddings are hashed
    bag-of-words vectors (see `deltajudge.testing.embed`): deterministic, not semantic.

    Routes: ``/v1/...``, ``/openai/v1/...``, ``/openai/...`` and Azure deployment paths
    ``/openai/deployments/<name>/{chat/completions,completions,embeddings}``, where the
    deployment name is the request's model. Streaming is refused with HTTP 400.
    The Files API and fine-tuning jobs answer on the same prefixes (`finetune`), and so
    does the Batch API (`batches`), whose lines go through the same rules.
    """

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        max_concurrent: int | None = None,
    ) -> None:
        if latency_s < 0:
            raise ValueError("latency_s must not be negative")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._app = ScriptedApp(
            rules, latency_s=latency_s, record=record, max_concurrent=max_concurrent
        )
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._bound_port: int | None = None
        self._failure: BaseException | None = None

    @classmethod
    def from_script(
        cls,
        path: str | os.PathLike[str],
        *,
        latency_s: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
    ) -> ScriptedServer:
        """Use the same JSON script file as the process form; ``latency_s`` overrides it."""
        script = load_script(path)
        latency = script.latency_s if latency_s is None else latency_s
        return cls(script.rules, latency_s=latency, host=host, port=port, record=record)

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("ScriptedServer is not started; call start() or use `with`")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """The origin without ``/v1``: what ``AsyncAzureOpenAI(azure_endpoint=...)`` takes."""
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """What ``AsyncOpenAI(base_url=...)`` takes."""
        return f"{self.base_url}/v1"

    # -- script and log ----------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._app.rule_book.rules

    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Swap the script of a running server (for one server shared by many tests)."""
        self._app.rule_book.replace(rules)

    @property
    def latency_s(self) -> float:
        return self._app.latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency_s must not be negative")
        self._app.latency_s = value

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy: safe to read while serving)."""
        return self._app.requests()

    def count(self, path: str | None = None, model: str | None = None) -> int:
        """How many requests matched; ``path`` may be the OpenAI path or the path as sent."""
        return sum(
            1
            for request in self._app.requests()
            if (path is None or request.on_path(path)) and (model is None or request.model == model)
        )

    def reset(self) -> None:
        """Forget logged requests and how often each rule answered (``times`` starts over)."""
        self._app.clear_log()
        self._app.rule_book.reset_counts()

    @property
    def finetune(self) -> FineTuneBackend:
        """Uploaded files and fine-tuning jobs; ``.script`` sets how jobs behave."""
        return self._app.finetune

    @property
    def batches(self) -> BatchBackend:
        """Batches (``/v1/batches``); ``.script`` sets how they complete or fail."""
        return self._app.batches

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Self:
        """Return once the server accepts connections (or raise within ``timeout_s``)."""
        if self._thread is not None:
            raise RuntimeError("ScriptedServer is already started")
        self._failure = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="deltajudge-scripted-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"scripted server did not start within {timeout_s}s")
        if self._bound_port is None:
            self.stop()
            raise RuntimeError(f"scripted server failed to start: {self._failure!r}") from (
                self._failure
            )
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving; in-flight requests get up to a second to finish. Idempotent."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            # RuntimeError: the loop already closed, so the thread is ending anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
        self._thread = self._loop = self._stop = None
        self._bound_port = None
        if thread.is_alive():
            raise RuntimeError(f"scripted server thread did not stop within {timeout_s}s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve(loop, ready))
        except BaseException as exc:  # reported to start(); a thread cannot raise to it
            self._failure = exc
        finally:
            ready.set()
            loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._loop = loop

        def on_ready(port: int) -> None:
            self._bound_port = port
            ready.set()

        await serve(self._app, self._host, self._port, self._stop, on_ready)
