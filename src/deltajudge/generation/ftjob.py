"""``model: ftjob:<job id>`` and ``ftjob:<job id>@<step>``: a fine-tuning job as a model.

A suite names the job it is waiting for instead of pasting a model id that does not
exist yet; at collection the alias becomes the job's ``fine_tuned_model`` (or the model
id of the checkpoint at that step), so a checkpoint is evaluated like any other model.
The alias's label carries what the job was (base model, method, hyperparameters,
trained tokens, job id), and so does its `JobFacts` (the report's ``models.<alias>.job``),
so the report says which training produced the numbers, in words and as fields.
A job that has not succeeded, or a step with no checkpoint, fails collection naming the
alias, before any model is called.
"""

from __future__ import annotations

from collections.abc import Mapping

import openai

from deltajudge.errors import ConfigError
from deltajudge.generation import finetune as ft
from deltajudge.settings import JobFacts, ModelConfig

PREFIX = "ftjob:"

#: Ended jobs do not change: one look-up per (endpoint, reference) per process, since
#: collection resolves each rubric's aliases and the run resolves them again.
_resolved: dict[tuple[str, str | None, str], tuple[str, JobFacts]] = {}


def is_job_reference(model: str) -> bool:
    return model.startswith(PREFIX)


def resolve_job_model(alias: str, config: ModelConfig, environ: Mapping[str, str]) -> ModelConfig:
    """The alias with its model replaced by the job's (or checkpoint's) model id."""
    key = (config.provider, config.base_url, config.model)
    if key not in _resolved:
        _resolved[key] = _look_up(alias, config, environ)
    model, facts = _resolved[key]
    label = config.label or _label(facts)
    return config.model_copy(update={"model": model, "label": label, "job": facts})


def _look_up(alias: str, config: ModelConfig, environ: Mapping[str, str]) -> tuple[str, JobFacts]:
    reference = config.model[len(PREFIX) :]
    job_id, _, step_text = reference.partition("@")
    where = f"models.{alias}.model"
    provider = config.provider
    if (provider != "openai" and provider != "azure") or not job_id:
        raise ConfigError(
            f"{where}: {config.model!r}: expected ftjob:<job id> or ftjob:<job id>@<step> "
            "on provider openai or azure"
        )
    try:
        step = int(step_text) if step_text else None
    except ValueError:
        raise ConfigError(
            f"{where}: {config.model!r}: the step after '@' must be a number"
        ) from None
    try:
        client = ft.connect(
            provider, config.base_url, environ=environ, api_key_env=config.api_key_env
        )
        job = ft.retrieve(client, job_id)
        model = job.fine_tuned_model if step is None else _checkpoint(client, job, step, where)
    except ft.FineTuneError as exc:
        raise ConfigError(f"{where}: cannot look up {job_id}: {exc}") from None
    if model is None:
        raise ConfigError(
            f"{where}: job {job_id} is {job.status}, so it has no model yet",
            hint=f"wait for it (deltajudge finetune watch {job_id} --provider {config.provider}) "
            "or name one of its checkpoints as ftjob:<job id>@<step>",
        )
    return model, _facts(job, step)


def _checkpoint(client: openai.OpenAI, job: ft.Job, step: int, where: str) -> str:
    checkpoints = ft.checkpoints(client, job.id)
    for checkpoint in checkpoints:
        if checkpoint.step == step:
            return checkpoint.model
    steps = ", ".join(str(c.step) for c in checkpoints) or "none yet"
    raise ConfigError(f"{where}: job {job.id} has no checkpoint at step {step} (steps: {steps})")


def _facts(job: ft.Job, step: int | None) -> JobFacts:
    return JobFacts(
        job_id=job.id,
        base_model=job.model,
        method=job.method or "supervised",
        hyperparameters=dict(job.hyperparameters),
        trained_tokens=job.trained_tokens,
        step=step,
    )


def _label(facts: JobFacts) -> str:
    hyper = " ".join(f"{k}={v}" for k, v in sorted(facts.hyperparameters.items()))
    parts = [f"{facts.method} on {facts.base_model}"]
    if hyper:
        parts.append(hyper)
    if facts.trained_tokens:
        parts.append(f"{facts.trained_tokens} trained tokens")
    at = f"@{facts.step}" if facts.step is not None else ""
    return f"fine-tune {facts.job_id}{at}: {', '.join(parts)}"
