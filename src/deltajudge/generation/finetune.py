"""Fine-tuning jobs on OpenAI and Azure OpenAI / Microsoft Foundry: the SDK calls.

The only place a job is touched through the openai SDK. Callers get plain dataclasses
(`Job`, `Event`, `Checkpoint`) and `FineTuneError`s carrying the provider's own message,
so the CLI never sees an SDK type. Foundry is reached through its v1 API (the plain
``OpenAI`` client on ``https://RESOURCE.openai.azure.com/openai/v1/``, no api-version)
with an API key or an Entra ID bearer token; the SDK's own retries stay on here, since a
job command makes a handful of calls, not thousands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import openai

from deltajudge.errors import ConfigError, DeltajudgeError
from deltajudge.generation.endpoints import azure_v1_url
from deltajudge.settings import ModelConfig

Provider = Literal["openai", "azure"]
Method = Literal["sft", "dpo", "reinforcement"]
TokenProvider = Callable[[], str]
T = TypeVar("T")

AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"
OPENAI_KEY_ENV = "OPENAI_API_KEY"
#: The scope Entra ID tokens for Azure OpenAI / Foundry are issued for.
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
ENDED = frozenset({"succeeded", "failed", "cancelled"})
#: Which hyperparameters each method takes (the API refuses the others).
METHOD_HYPERPARAMETERS: dict[Method, frozenset[str]] = {
    "sft": frozenset({"n_epochs", "batch_size", "learning_rate_multiplier"}),
    "dpo": frozenset({"n_epochs", "batch_size", "learning_rate_multiplier", "beta"}),
    "reinforcement": frozenset({"n_epochs", "batch_size", "learning_rate_multiplier"}),
}
_API_TYPE = {"sft": "supervised", "dpo": "dpo", "reinforcement": "reinforcement"}


class FineTuneError(DeltajudgeError):
    """The provider refused or failed something; the message is the provider's own."""


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    model: str
    fine_tuned_model: str | None
    method: str | None
    hyperparameters: dict[str, Any]
    trained_tokens: int | None
    error: str | None
    suffix: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclass(frozen=True)
class Event:
    id: str
    created_at: int
    level: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpoint:
    step: int
    model: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class JobSpec:
    """What ``finetune create`` asks for, before any file is uploaded."""

    method: Method
    model: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    suffix: str | None = None
    grader: dict[str, Any] | None = None
    #: Foundry's ``trainingType`` (GlobalStandard, Standard, Developer); Azure only.
    training_type: str | None = None


def connect(
    provider: Provider,
    base_url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    token_provider: TokenProvider | None = None,
    api_key_env: str | None = None,
) -> openai.OpenAI:
    """A client for job control. Azure: the key in $AZURE_OPENAI_API_KEY, else an Entra
    ID token (``token_provider``, or azure-identity's DefaultAzureCredential if installed)."""
    env = os.environ if environ is None else environ
    if provider == "openai":
        key_env = api_key_env or OPENAI_KEY_ENV
        key = env.get(key_env)
        if not key and base_url is None:
            raise ConfigError(
                f"fine-tuning on OpenAI needs an API key in ${key_env}",
                hint=f"export {key_env}=... (or give --base-url for a compatible server)",
            )
        return openai.OpenAI(base_url=base_url, api_key=key or "not-needed")
    url = base_url or env.get("AZURE_OPENAI_ENDPOINT")
    if not url:
        raise ConfigError(
            "fine-tuning on Azure needs the resource URL",
            hint="pass --base-url https://RESOURCE.openai.azure.com/openai/v1/ "
            "or export AZURE_OPENAI_ENDPOINT",
        )
    v1 = azure_v1_url(ModelConfig(model="finetune", provider="azure", base_url=url)) + "/"
    credential: str | TokenProvider | None = env.get(api_key_env or AZURE_KEY_ENV) or token_provider
    return openai.OpenAI(base_url=v1, api_key=credential or _entra_token_provider())


def _entra_token_provider() -> TokenProvider:
    """Entra ID as the Foundry SDK does it; azure-identity is the optional ``azure`` extra."""
    try:
        from azure.identity import (  # type: ignore[import-not-found,unused-ignore]
            DefaultAzureCredential,
            get_bearer_token_provider,
        )
    except ImportError:
        raise ConfigError(
            f"finetune --provider azure needs ${AZURE_KEY_ENV} or Entra ID sign-in",
            hint=f"export {AZURE_KEY_ENV}=..., or pip install 'deltajudge[azure]' and sign in "
            "(az login, a managed identity, or AZURE_CLIENT_ID/SECRET/TENANT_ID)",
        ) from None
    provider: TokenProvider = get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)
    return provider


def method_block(spec: JobSpec) -> dict[str, Any]:
    """The job's ``method``: ``{"type": "dpo", "dpo": {"hyperparameters": {...}}}``."""
    allowed = METHOD_HYPERPARAMETERS[spec.method]
    unknown = sorted(set(spec.hyperparameters) - allowed)
    if unknown:
        raise ConfigError(
            f"--{unknown[0].replace('_', '-')} does not apply to --method {spec.method}",
            hint=f"{spec.method} takes: {', '.join(sorted(allowed))}",
        )
    kind = _API_TYPE[spec.method]
    body: dict[str, Any] = {}
    if spec.hyperparameters:
        body["hyperparameters"] = dict(spec.hyperparameters)
    if spec.method == "reinforcement":
        if spec.grader is None:
            raise ConfigError(
                "--method reinforcement needs a grader: the reward the job trains on",
                hint="pass --grader GRADER.json (a grader object, as exported from a rubric)",
            )
        body["grader"] = spec.grader
    elif spec.grader is not None:
        raise ConfigError(f"--grader applies to --method reinforcement, not {spec.method}")
    return {"type": kind, kind: body}


def upload(
    client: openai.OpenAI, path: Path, *, poll_s: float = 2.0, timeout_s: float = 1800.0
) -> str:
    """Upload one JSONL (``purpose="fine-tune"``) and wait until the provider processed it."""
    with path.open("rb") as handle:
        uploaded = _guarded(
            f"upload of {path}",
            lambda: client.files.create(file=(path.name, handle), purpose="fine-tune"),
        )
    deadline = time.monotonic() + timeout_s
    status, details = uploaded.status, uploaded.status_details
    while status not in ("processed", "error"):
        if time.monotonic() > deadline:
            raise FineTuneError(f"{path}: not processed after {timeout_s:g}s ({uploaded.id})")
        time.sleep(poll_s)
        current = _guarded(f"file {uploaded.id}", lambda: client.files.retrieve(uploaded.id))
        status, details = current.status, current.status_details
    if status == "error":
        raise FineTuneError(f"{path}: the provider rejected the file: {details or 'no reason'}")
    return uploaded.id


def create_job(
    client: openai.OpenAI, spec: JobSpec, training_file: str, validation_file: str | None
) -> Job:
    extra = {"trainingType": spec.training_type} if spec.training_type else None
    method: Any = method_block(spec)
    job = _guarded(
        "job create",
        lambda: client.fine_tuning.jobs.create(
            model=spec.model,
            training_file=training_file,
            validation_file=validation_file if validation_file is not None else openai.omit,
            method=method,
            seed=spec.seed if spec.seed is not None else openai.omit,
            suffix=spec.suffix if spec.suffix is not None else openai.omit,
            extra_body=extra,
        ),
    )
    return _job(job)


def retrieve(client: openai.OpenAI, job_id: str) -> Job:
    return _job(_guarded(f"job {job_id}", lambda: client.fine_tuning.jobs.retrieve(job_id)))


def cancel(client: openai.OpenAI, job_id: str) -> Job:
    return _job(_guarded(f"cancel {job_id}", lambda: client.fine_tuning.jobs.cancel(job_id)))


def list_jobs(client: openai.OpenAI, limit: int = 20) -> list[Job]:
    page = _guarded("job list", lambda: client.fine_tuning.jobs.list(limit=limit))
    return [_job(job) for job in page.data]


def events(client: openai.OpenAI, job_id: str) -> list[Event]:
    """Every event of the job, oldest first (the API pages them newest first)."""

    def fetch() -> list[Event]:
        return [
            Event(e.id, e.created_at, e.level, e.message, _as_dict(e.data))
            for e in client.fine_tuning.jobs.list_events(job_id, limit=100)
        ]

    return sorted(_guarded(f"events of {job_id}", fetch), key=lambda e: (e.created_at, e.id))


def checkpoints(client: openai.OpenAI, job_id: str) -> list[Checkpoint]:
    """The job's checkpoints, by step."""

    def fetch() -> list[Checkpoint]:
        return [
            Checkpoint(
                c.step_number,
                c.fine_tuned_model_checkpoint,
                {k: v for k, v in c.metrics.model_dump().items() if isinstance(v, float | int)},
            )
            for c in client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        ]

    return sorted(_guarded(f"checkpoints of {job_id}", fetch), key=lambda c: c.step)


def _job(job: Any) -> Job:
    method = job.method.type if job.method is not None else None
    hyper = _method_hyperparameters(job) or job.hyperparameters.model_dump(exclude_none=True)
    return Job(
        id=job.id,
        status=job.status,
        model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        method=method,
        hyperparameters=hyper,
        trained_tokens=job.trained_tokens,
        error=job.error.message if job.error is not None else None,
        suffix=getattr(job, "suffix", None),
    )


def _method_hyperparameters(job: Any) -> dict[str, Any] | None:
    """The method block's hyperparameters are the ones that apply (``beta`` lives there)."""
    if job.method is None:
        return None
    block = getattr(job.method, job.method.type, None)
    hyper = getattr(block, "hyperparameters", None)
    return hyper.model_dump(exclude_none=True) if hyper is not None else None


def _as_dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _guarded(what: str, call: Callable[[], T]) -> T:
    """The provider's message, not a traceback; never the key (the SDK does not echo it)."""
    try:
        return call()
    except openai.APIStatusError as exc:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        raise FineTuneError(f"{what}: HTTP {exc.status_code}: {message or exc.message}") from None
    except openai.APIConnectionError as exc:
        raise FineTuneError(f"{what}: could not reach the provider ({exc})") from None
