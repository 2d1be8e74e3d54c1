"""The Batch API, as the openai SDK calls it, scripted: create, retrieve, list, cancel.

A batch's lines are answered by the server's own rules, as if each had been sent to its
``url`` directly, so scripted answers, judge replies and per-line errors (a rule with a
non-200 ``status``) work in batches too: a 200 goes to the output file, anything else to
the error file, as OpenAI does. Like fine-tuning jobs, a batch moves by how often it is
looked at: ``validating`` when created, ``completed`` on retrieve ``polls_to_finish``
(0: at once), ``in_progress`` before that; `BatchScript.fail_with` fails it instead.
Uploaded and produced files live in the fine-tuning backend's Files store.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import _payloads as payloads
from ._finetune import FineTuneBackend, Remember

#: ``(url, body)`` -> ``(status, response body)``: one line through the server's rules.
AnswerLine = Callable[[str, dict[str, Any]], tuple[int, Any]]

_CREATED_AT = 1_764_000_000
#: What ``endpoint`` may be: OpenAI's paths, and Azure global batch's (v1 API, no /v1).
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
_AZURE_ENDPOINTS = tuple(e.removeprefix("/v1") for e in ENDPOINTS)


@dataclass
class BatchScript:
    """How scripted batches behave; change fields on ``server.batches.script``."""

    #: The retrieve on which a batch completes (0: it is complete when created).
    polls_to_finish: int = 1
    #: The batch fails (status ``failed``) with this error message instead.
    fail_with: str | None = None


@dataclass
class ScriptedBatch:
    id: str
    request: dict[str, Any]
    lines: list[dict[str, Any]]
    status: str = "validating"
    retrieves: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class BatchBackend:
    """The batches of one scripted server; read them from tests (``server.batches``)."""

    def __init__(self, files: FineTuneBackend, remember: Remember, answer: AnswerLine) -> None:
        self.script = BatchScript()
        self._files = files
        self._remember = remember
        self._answer = answer
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.batches: dict[str, ScriptedBatch] = {}

    @property
    def lines_answered(self) -> int:
        """Requests answered inside batches (not in the server's request log)."""
        with self._lock:
            return sum(b.completed + b.failed for b in self.batches.values())

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        router.add_post(prefix + "/batches", self._create)
        router.add_get(prefix + "/batches", self._list)
        router.add_get(prefix + "/batches/{batch_id}", self._retrieve)
        router.add_post(prefix + "/batches/{batch_id}/cancel", self._cancel)

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}")
        self._remember(request, "/v1/batches", body)
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS + _AZURE_ENDPOINTS:
            return _error(400, f"invalid endpoint {endpoint!r}: expected one of {ENDPOINTS}")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'")
        file = self._files.files.get(str(body.get("input_file_id")))
        if file is None or file.purpose != "batch":
            return _error(400, f"invalid input_file_id {body.get('input_file_id')!r}")
        with self._lock:
            batch = ScriptedBatch(f"batch_{next(self._ids)}", body, [])
            batch.errors = _parse_lines(file.content, str(endpoint), batch.lines)
            self.batches[batch.id] = batch
            if self.script.polls_to_finish <= 0:
                self._advance(batch, finish=True)
            return web.json_response(self._object(batch))

    async def _list(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/batches", {})
        with self._lock:
            data = [self._object(batch) for batch in reversed(self.batches.values())]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _retrieve(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/batches/{batch_id}", {})
        with self._lock:
            batch = self.batches.get(request.match_info["batch_id"])
            if batch is None:
                return _error(404, f"No batch found with id '{request.match_info['batch_id']}'")
            batch.retrieves += 1
            self._advance(batch, finish=batch.retrieves >= self.script.polls_to_finish)
            return web.json_response(self._object(batch))

    async def _cancel(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/batches/{batch_id}/cancel", {})
        with self._lock:
            batch = self.batches.get(request.match_info["batch_id"])
            if batch is None:
                return _error(404, f"No batch found with id '{request.match_info['batch_id']}'")
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                return _error(400, f"Batch {batch.id} has already {batch.status}")
            batch.status = "cancelled"
            return web.json_response(self._object(batch))

    def _advance(self, batch: ScriptedBatch, *, finish: bool) -> None:
        if batch.status not in ("validating", "in_progress"):
            return
        if batch.errors or self.script.fail_with is not None:
            if self.script.fail_with is not None:
                batch.errors.append({"code": "failed", "message": self.script.fail_with})
            batch.status = "failed"
            return
        if not finish:
            batch.status = "in_progress"
            return
        output: list[str] = []
        errors: list[str] = []
        for index, line in enumerate(batch.lines, start=1):
            status, body = self._answer(line["url"], line["body"])
            result = {
                "id": f"batch_req_{batch.id}_{index}",
                "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": f"req_{index}", "body": body},
                "error": None,
            }
            (output if status == 200 else errors).append(json.dumps(result))
        batch.completed, batch.failed = len(output), len(errors)
        if output:
            batch.output_file_id = self._store(batch, "output", output)
        if errors:
            batch.error_file_id = self._store(batch, "error", errors)
        batch.status = "completed"

    def _store(self, batch: ScriptedBatch, kind: str, lines: list[str]) -> str:
        content = ("\n".join(lines) + "\n").encode("utf-8")
        return self._files.add_file(f"{batch.id}_{kind}.jsonl", "batch_output", content).id

    def _object(self, batch: ScriptedBatch) -> dict[str, Any]:
        body = batch.request
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": _CREATED_AT,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "request_counts": {
                "total": len(batch.lines),
                "completed": batch.completed,
                "failed": batch.failed,
            },
            "metadata": body.get("metadata"),
        }


def _parse_lines(content: bytes, endpoint: str, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The input file's lines, checked as OpenAI validates them: JSON objects with a
    unique ``custom_id``, ``method: POST``, the batch's ``url``, one model for all."""
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, raw in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            errors.append(_line_error(number, "invalid_json", "the line is not JSON"))
            continue
        problem = _line_problem(line, endpoint, seen)
        if problem is not None:
            errors.append(_line_error(number, "invalid_request", problem))
            continue
        seen.add(line["custom_id"])
        models.add(str(line["body"].get("model")))
        into.append(line)
    if len(models) > 1:
        errors.append(_line_error(None, "mismatched_model", f"one model per batch, got {models}"))
    if not into and not errors:
        errors.append(_line_error(None, "empty_file", "the input file has no requests"))
    return errors


def _line_problem(line: object, endpoint: str, seen: set[str]) -> str | None:
    if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
        return "expected an object with custom_id, method, url and a body object"
    if not isinstance(line.get("custom_id"), str) or line["custom_id"] in seen:
        return f"custom_id must be a unique string (got {line.get('custom_id')!r})"
    if line.get("method") != "POST":
        return "method must be POST"
    if line.get("url") != endpoint:
        return f"url {line.get('url')!r} does not match the batch endpoint {endpoint!r}"
    return None


def _line_error(line: int | None, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "line": line, "param": None}


def _error(status: int, message: str) -> web.Response:
    return web.json_response(payloads.error_body(status, message), status=status)
