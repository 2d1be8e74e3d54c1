"""The Files API and fine-tuning jobs, as the openai SDK calls them, scripted.

A job moves through its statuses by how often it is looked at, not by wall time, so a
test that polls N times knows what it will see: ``validating_files`` when created,
``running`` from the first retrieve (one checkpoint and one metrics event per retrieve),
then ``succeeded`` (or ``failed`` with `FineTuneScript.fail_with`) on retrieve
``polls_to_finish``. Every create is kept as sent, so a test asserts the ``method`` block,
the hyperparameters and Foundry's ``trainingType`` on the wire.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import _payloads as payloads

#: ``(request, endpoint, body)``: puts the call in the server's request log.
Remember = Callable[[web.Request, str, dict[str, Any]], object]

_CREATED_AT = 1_764_000_000  # fixed, so answers are the same on every run
_STEP = 10


@dataclass
class FineTuneScript:
    """How the scripted provider behaves; change fields on ``server.finetune.script``."""

    #: The retrieve on which a job ends (succeeds, or fails with `fail_with`).
    polls_to_finish: int = 3
    #: File retrieves that still say ``uploaded`` before ``processed``.
    file_polls: int = 1
    #: The job fails with this ``error.message`` (code ``invalid_training_file``).
    fail_with: str | None = None
    #: An upload is refused with HTTP 400 and this message.
    reject_upload: str | None = None
    trained_tokens: int = 12_345


@dataclass
class ScriptedFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    retrieves: int = 0


@dataclass
class ScriptedJob:
    id: str
    request: dict[str, Any]
    status: str = "validating_files"
    retrieves: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None


class FineTuneBackend:
    """Files and jobs of one scripted server; read them from tests (``server.finetune``)."""

    def __init__(self, remember: Remember) -> None:
        self.script = FineTuneScript()
        self._remember = remember
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.files: dict[str, ScriptedFile] = {}
        self.jobs: dict[str, ScriptedJob] = {}

    @property
    def created(self) -> list[dict[str, Any]]:
        """The body of every job create, in order, exactly as sent."""
        with self._lock:
            return [job.request for job in self.jobs.values()]

    def add_routes(self, router: web.UrlDispatcher, prefix: str) -> None:
        jobs = prefix + "/fine_tuning/jobs"
        router.add_post(prefix + "/files", self._upload)
        router.add_get(prefix + "/files/{file_id}", self._file)
        router.add_get(prefix + "/files/{file_id}/content", self._content)
        router.add_post(jobs, self._create)
        router.add_get(jobs, self._list)
        router.add_get(jobs + "/{job_id}", self._retrieve)
        router.add_get(jobs + "/{job_id}/events", self._events)
        router.add_get(jobs + "/{job_id}/checkpoints", self._checkpoints)
        router.add_post(jobs + "/{job_id}/cancel", self._cancel)

    # -- files -------------------------------------------------------------------------

    def add_file(self, filename: str, purpose: str, content: bytes) -> ScriptedFile:
        """Store a file as if uploaded (batches put their output and error files here)."""
        with self._lock:
            file = ScriptedFile(f"file-{next(self._ids)}", filename, purpose, content)
            self.files[file.id] = file
        return file

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        record = {"purpose": purpose, "filename": getattr(upload, "filename", None)}
        self._remember(request, "/v1/files", record)
        if not isinstance(upload, web.FileField) or not isinstance(purpose, str):
            return _error(400, "'file' and 'purpose' are required multipart fields")
        if self.script.reject_upload is not None:
            return _error(400, self.script.reject_upload)
        file = self.add_file(upload.filename, purpose, upload.file.read())
        return web.json_response(_file_object(file, "uploaded"))

    async def _content(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/files/{file_id}/content", {})
        with self._lock:
            file = self.files.get(request.match_info["file_id"])
        if file is None:
            return _error(404, f"No such File object: {request.match_info['file_id']}")
        return web.Response(body=file.content, content_type="application/octet-stream")

    async def _file(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/files/{file_id}", {})
        with self._lock:
            file = self.files.get(request.match_info["file_id"])
            if file is None:
                return _error(404, f"No such File object: {request.match_info['file_id']}")
            file.retrieves += 1
            status = "processed" if file.retrieves > self.script.file_polls else "uploaded"
            return web.json_response(_file_object(file, status))

    # -- jobs --------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}")
        self._remember(request, "/v1/fine_tuning/jobs", body)
        problem = self._unusable(body)
        if problem is not None:
            return _error(400, problem)
        with self._lock:
            job = ScriptedJob(f"ftjob-{next(self._ids)}", body)
            job.events.append(_event(job, "info", "Validating training file"))
            self.jobs[job.id] = job
            return web.json_response(self._job_object(job))

    def _unusable(self, body: Mapping[str, Any]) -> str | None:
        for key in ("training_file", "validation_file"):
            name = body.get(key)
            if name is not None and name not in self.files:
                return f"invalid {key}: {name!r} was not uploaded"
        if not isinstance(body.get("model"), str):
            return "you must provide a model parameter"
        return None

    async def _list(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/fine_tuning/jobs", {})
        with self._lock:
            data = [self._job_object(job) for job in reversed(self.jobs.values())]
        return web.json_response({"object": "list", "data": data, "has_more": False})

    async def _retrieve(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/fine_tuning/jobs/{job_id}", {})
        with self._lock:
            job = self.jobs.get(request.match_info["job_id"])
            if job is None:
                return _missing_job(request)
            self._advance(job)
            return web.json_response(self._job_object(job))

    async def _events(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/fine_tuning/jobs/{job_id}/events", {})
        with self._lock:
            job = self.jobs.get(request.match_info["job_id"])
            if job is None:
                return _missing_job(request)
            return _page(list(reversed(job.events)), request)  # newest first, as OpenAI

    async def _checkpoints(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/fine_tuning/jobs/{job_id}/checkpoints", {})
        with self._lock:
            job = self.jobs.get(request.match_info["job_id"])
            if job is None:
                return _missing_job(request)
            return _page(list(reversed(job.checkpoints)), request)

    async def _cancel(self, request: web.Request) -> web.Response:
        self._remember(request, "/v1/fine_tuning/jobs/{job_id}/cancel", {})
        with self._lock:
            job = self.jobs.get(request.match_info["job_id"])
            if job is None:
                return _missing_job(request)
            if job.status in ("succeeded", "failed", "cancelled"):
                return _error(400, f"Job {job.id} has already {job.status}")
            job.status = "cancelled"
            job.events.append(_event(job, "info", "Fine-tuning job cancelled"))
            return web.json_response(self._job_object(job))

    def _advance(self, job: ScriptedJob) -> None:
        """One retrieve = one training step's worth of progress, until the job ends."""
        if job.status in ("succeeded", "failed", "cancelled"):
            return
        job.retrieves += 1
        if job.status == "validating_files":
            job.status = "running"
            job.events.append(_event(job, "info", "Fine-tuning job started"))
        if self.script.fail_with is not None and job.retrieves >= self.script.polls_to_finish:
            job.status = "failed"
            job.error = {"code": "invalid_training_file", "message": self.script.fail_with}
            job.events.append(_event(job, "error", self.script.fail_with))
            return
        step = _STEP * (len(job.checkpoints) + 1)
        total = _STEP * self.script.polls_to_finish
        loss = round(1.0 / (1 + len(job.checkpoints)), 4)
        data = {"step": step, "total_steps": total, "train_loss": loss}
        job.events.append(
            _event(job, "info", f"Step {step}/{total}: training loss={loss}", "metrics", data)
        )
        job.checkpoints.append(_checkpoint(job, step, loss))
        if job.retrieves >= self.script.polls_to_finish:
            job.status = "succeeded"
            job.fine_tuned_model = _model_id(job)
            job.events.append(_event(job, "info", "The job has successfully completed"))

    def _job_object(self, job: ScriptedJob) -> dict[str, Any]:
        body = job.request
        method = body.get("method")
        hyper = body.get("hyperparameters") or _method_hyperparameters(method) or {}
        ended = job.status in ("succeeded", "failed", "cancelled")
        return {
            "id": job.id,
            "object": "fine_tuning.job",
            "created_at": _CREATED_AT,
            "finished_at": _CREATED_AT + 60 * job.retrieves if ended else None,
            "model": body["model"],
            "fine_tuned_model": job.fine_tuned_model,
            "organization_id": "org-scripted",
            "status": job.status,
            "error": job.error,
            "hyperparameters": {
                "n_epochs": hyper.get("n_epochs", "auto"),
                "batch_size": hyper.get("batch_size", "auto"),
                "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto"),
            },
            "method": method,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "result_files": [],
            "seed": body.get("seed") or 42,
            "suffix": body.get("suffix"),
            "trained_tokens": self.script.trained_tokens if job.status == "succeeded" else None,
        }


def _method_hyperparameters(method: object) -> dict[str, Any] | None:
    if not isinstance(method, dict):
        return None
    block = method.get(str(method.get("type")))
    hyper = block.get("hyperparameters") if isinstance(block, dict) else None
    return hyper if isinstance(hyper, dict) else None


def _model_id(job: ScriptedJob) -> str:
    suffix = job.request.get("suffix") or "scripted"
    return f"ft:{job.request['model']}:scripted:{suffix}:{job.id}"


def _checkpoint(job: ScriptedJob, step: int, loss: float) -> dict[str, Any]:
    return {
        "id": f"ftckpt-{job.id}-{step}",
        "object": "fine_tuning.job.checkpoint",
        "created_at": _CREATED_AT + step,
        "fine_tuning_job_id": job.id,
        "fine_tuned_model_checkpoint": f"{_model_id(job)}:ckpt-step-{step}",
        "step_number": step,
        "metrics": {"step": step, "train_loss": loss},
    }


def _event(
    job: ScriptedJob,
    level: str,
    message: str,
    kind: str = "message",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    index = len(job.events) + 1
    return {
        "id": f"ftevent-{job.id}-{index}",
        "object": "fine_tuning.job.event",
        "created_at": _CREATED_AT + index,
        "level": level,
        "message": message,
        "type": kind,
        "data": data or {},
    }


def _file_object(file: ScriptedFile, status: str) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "bytes": len(file.content),
        "created_at": _CREATED_AT,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": status,
    }


def _page(items: list[dict[str, Any]], request: web.Request) -> web.Response:
    """Cursor pagination as the SDK walks it: ``after`` an id, at most ``limit`` items."""
    after = request.query.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = int(request.query.get("limit", "20"))
    return web.json_response(
        {"object": "list", "data": items[:limit], "has_more": len(items) > limit}
    )


def _missing_job(request: web.Request) -> web.Response:
    return _error(404, f"Could not find fine-tuning job {request.match_info['job_id']}")


def _error(status: int, message: str) -> web.Response:
    return web.json_response(payloads.error_body(status, message), status=status)
