"""What the scripted server saw, and the text that rules match on.

Tests assert on `RecordedRequest`s instead of mocking the SDK, so a record keeps the
request exactly as it arrived (path, parsed body, headers) plus the two facts the rules
need: the request's text and whether it asks for structured output (a judge call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
MODELS = "/v1/models"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is the path the client really used (an Azure client sends
    ``/openai/deployments/<name>/chat/completions``); ``endpoint`` is the same call under
    its OpenAI name (``/v1/chat/completions``) so one rule or count covers both.
    ``model`` is the deployment name for Azure deployment paths, else the body's model.
    """

    method: str
    path: str
    endpoint: str
    model: str | None
    body: dict[str, Any]
    headers: dict[str, str]
    text: str
    judge: bool

    def on_path(self, path: str) -> bool:
        """Let callers name a path either as sent or by its OpenAI endpoint."""
        return path in (self.path, self.endpoint)


def content_text(content: object) -> str:
    """Flatten message content, which is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _messages(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def strings_in(value: object) -> Iterable[str]:
    """Inputs and prompts are a string, a list of strings, or token arrays."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        yield " ".join(str(v) for v in value)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def _responses_input_text(body: Mapping[str, Any]) -> str:
    value = body.get("input")
    if isinstance(value, str):
        return value
    return "\n".join(content_text(m.get("content")) for m in _messages(value))


def request_text(endpoint: str, body: Mapping[str, Any]) -> str:
    """The text a rule's ``contains`` looks in: every message, not just the last one."""
    if endpoint == CHAT:
        return "\n".join(content_text(m.get("content")) for m in _messages(body.get("messages")))
    if endpoint == RESPONSES:
        instructions = body.get("instructions")
        parts = [_responses_input_text(body)]
        if isinstance(instructions, str):
            parts.append(instructions)
        return "\n".join(parts)
    if endpoint == COMPLETIONS:
        return "\n".join(strings_in(body.get("prompt")))
    if endpoint == EMBEDDINGS:
        return "\n".join(strings_in(body.get("input")))
    return ""


def last_user_text(endpoint: str, body: Mapping[str, Any]) -> str:
    """What the default generation echoes, so a test can tell which prompt was answered."""
    if endpoint == COMPLETIONS:
        return "\n".join(strings_in(body.get("prompt")))
    if endpoint == RESPONSES and isinstance(body.get("input"), str):
        return str(body["input"])
    key = "messages" if endpoint == CHAT else "input"
    users = [m for m in _messages(body.get(key)) if m.get("role") == "user"]
    return content_text(users[-1].get("content")) if users else ""


def _format_type(value: object) -> object:
    return value.get("type") if isinstance(value, dict) else None


def asks_structured_output(endpoint: str, body: Mapping[str, Any]) -> bool:
    """A judge call is one asking for structured output (``json_schema``).

    Plain JSON mode (``json_object``) is not counted: it is a generation setting too.
    """
    if endpoint == CHAT:
        return _format_type(body.get("response_format")) == "json_schema"
    if endpoint == RESPONSES:
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        return _format_type(fmt) == "json_schema"
    return False
