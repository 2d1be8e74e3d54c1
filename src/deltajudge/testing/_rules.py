"""Rules: which request gets which scripted answer.

A test names only the answers it cares about; everything else gets the server's
default behaviour (see `ScriptedServer`). The first matching rule wins, and a rule
with ``times`` retires after answering that many requests, which is how a test
scripts "rate-limited twice, then fine".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._requests import RecordedRequest

TextSource = str | Callable[[RecordedRequest], str]


@dataclass(frozen=True)
class Reply:
    """What to answer.

    Leave ``text``, ``json``, ``refusal`` and ``logprobs`` unset to keep the default
    content while changing something else (``delay_s``, ``usage``). A non-200
    ``status`` answers with an OpenAI-style error body whose message is ``text``.
    ``logprobs`` lists one ``{token: probability}`` dict per generated token; they
    are only returned when the request asks for ``logprobs`` (as the real API does).
    """

    text: TextSource | None = None
    json: Mapping[str, Any] | None = None
    status: int = 200
    retry_after: float | None = None
    times: int | None = None
    delay_s: float | None = None
    logprobs: Sequence[Mapping[str, float]] | None = None
    refusal: str | None = None
    usage: tuple[int, int] | None = None
    #: A body sent as is with HTTP 200 (bad JSON, an HTML page, the wrong shape, ""): what
    #: a broken proxy or server does, for testing how clients survive it.
    raw: str | None = None
    raw_type: str = "application/json"

    def __post_init__(self) -> None:
        _check(self.text is None or self.json is None, "give text or json, not both")
        _check(self.raw is None or self.status == 200, "raw bodies are sent with HTTP 200")
        _check(100 <= self.status <= 599, f"status must be an HTTP status (got {self.status})")
        _check(self.times is None or self.times >= 1, "times must be at least 1")
        _check(self.delay_s is None or self.delay_s >= 0, "delay_s must not be negative")
        _check(self.retry_after is None or self.retry_after >= 0, "retry_after must be >= 0")
        _check(
            self.usage is None or (len(self.usage) == 2 and min(self.usage) >= 0),
            "usage must be (prompt_tokens, completion_tokens), both >= 0",
        )
        for step in self.logprobs or ():
            _check(bool(step), "each logprobs entry needs at least one token")
            _check(all(0 < p <= 1 for p in step.values()), "probabilities must be in (0, 1]")

    def content(self, request: RecordedRequest) -> str | None:
        """The scripted content, or None to let the server's default answer."""
        if self.json is not None:
            return json.dumps(self.json)
        if callable(self.text):
            return self.text(request)
        if self.text is not None:
            return self.text
        if self.logprobs:
            return "".join(max(step, key=step.__getitem__) for step in self.logprobs)
        return None

    def error_message(self, request: RecordedRequest) -> str:
        return self.content(request) or f"scripted error (HTTP {self.status})"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Match fields left as None match anything; all the others must match.

    ``path`` may be the OpenAI path (``/v1/chat/completions``), which also matches the
    same call sent to an Azure deployment path. ``contains`` looks in the whole
    request text (every message, instructions, prompt), not only the last message.
    """

    reply: Reply
    model: str | None = None
    contains: str | None = None
    path: str | None = None
    judge: bool | None = None

    def matches(self, request: RecordedRequest) -> bool:
        return (
            (self.model is None or self.model == request.model)
            and (self.contains is None or self.contains in request.text)
            and (self.path is None or request.on_path(self.path))
            and (self.judge is None or self.judge == request.judge)
        )


class RuleBook:
    """The rules and how often each has answered.

    The event loop thread picks rules while a test thread may replace them, so the
    use counts (which ``times`` depends on) are guarded by a lock.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._lock = threading.Lock()
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._used = [0] * len(self._rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def pick(self, request: RecordedRequest) -> Reply | None:
        """Return the first live matching rule's reply and count the use."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                times = rule.reply.times
                if (times is None or self._used[index] < times) and rule.matches(request):
                    self._used[index] += 1
                    return rule.reply
        return None

    def replace(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            self._rules = tuple(rules)
            self._used = [0] * len(self._rules)

    def reset_counts(self) -> None:
        with self._lock:
            self._used = [0] * len(self._rules)

    def models(self) -> list[str]:
        return sorted({rule.model for rule in self._rules if rule.model is not None})
