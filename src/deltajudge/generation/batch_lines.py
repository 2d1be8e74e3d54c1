"""Batch files: input lines in, files split to the provider's limits, result lines out.

The format is OpenAI's, which Azure OpenAI global batch and ``vllm run-batch`` read too:
an input line is ``{"custom_id", "method": "POST", "url", "body"}``, a result line is
``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``.
``custom_id`` is a short hash of the request's cache key, so a result line finds the
cache entry a direct call would have written, with nothing else to remember.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: OpenAI's per-file limits; settings can lower them (``batch_max_requests``, ``batch_max_bytes``).
MAX_REQUESTS = 50_000
MAX_BYTES = 200_000_000

_ID_CHARS = 24  # of the sha256 hex cache key: 96 bits, no collision in any real suite


def custom_id(cache_key: str) -> str:
    return f"dj-{cache_key[:_ID_CHARS]}"


@dataclass(frozen=True)
class BatchLine:
    """One request waiting to be batched, and where its answer goes."""

    custom_id: str
    alias: str
    #: The OpenAI path (``/v1/chat/completions``); Azure's lines drop the ``/v1``.
    url: str
    body: dict[str, Any]
    #: ``answers`` or ``judgments``: which phase of the suite asked.
    phase: str

    def encode(self, url: str) -> bytes:
        line = {"custom_id": self.custom_id, "method": "POST", "url": url, "body": self.body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def split(
    lines: Iterable[BatchLine], url: str, max_requests: int, max_bytes: int
) -> Iterator[tuple[list[BatchLine], bytes]]:
    """Files of at most ``max_requests`` lines and ``max_bytes`` bytes (a single line
    larger than the limit goes alone: the provider then says what it thinks of it)."""
    chunk: list[BatchLine] = []
    data: list[bytes] = []
    size = 0
    for line in lines:
        encoded = line.encode(url)
        if chunk and (len(chunk) >= max_requests or size + len(encoded) > max_bytes):
            yield chunk, b"".join(data)
            chunk, data, size = [], [], 0
        chunk.append(line)
        data.append(encoded)
        size += len(encoded)
    if chunk:
        yield chunk, b"".join(data)


@dataclass(frozen=True)
class ResultLine:
    """A batched request's outcome: the response body, or why there is none."""

    batch_id: str
    body: dict[str, Any] | None
    error: str | None


def read_results(batch_id: str, text: str) -> Iterator[tuple[str, ResultLine]]:
    """``(custom_id, outcome)`` per line of a downloaded output or error file."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            cid = str(line["custom_id"])
        except (ValueError, KeyError, TypeError):
            continue  # not a result line: nothing can be matched to it
        yield cid, _outcome(batch_id, number, line)


def _outcome(batch_id: str, number: int, line: dict[str, Any]) -> ResultLine:
    where = f"batch {batch_id} line {number}"
    error = line.get("error")
    if isinstance(error, dict) and error:
        code = error.get("code") or "error"
        return ResultLine(batch_id, None, f"{where}: {code}: {error.get('message') or ''}")
    response = line.get("response")
    if not isinstance(response, dict):
        return ResultLine(batch_id, None, f"{where}: no response in the result line")
    status, body = response.get("status_code"), response.get("body")
    if status != 200 or not isinstance(body, dict):
        return ResultLine(batch_id, None, f"{where}: HTTP {status}: {_message(body)}")
    return ResultLine(batch_id, body, None)


def _message(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return json.dumps(body)[:200]
