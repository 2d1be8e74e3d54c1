"""``deltajudge finetune``: launch, watch, list, cancel fine-tuning jobs; a thin shell.

The loop it closes: benchmark the base, ``finetune create``, ``finetune watch`` (which
writes the fine-tuned model into the config as an alias), ``deltajudge run`` on the same
prompts. The SDK calls live in `deltajudge.generation.finetune`, imported only when a
command runs so that ``deltajudge --help`` stays cheap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltajudge.errors import ConfigError

if TYPE_CHECKING:
    import openai

    from deltajudge.generation.finetune import Event, Job, JobSpec

EXIT_JOB_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130
_POLL_HELP = "seconds between polls of the uploads' processing"
_HYPERPARAMETERS = {
    "n_epochs": int,
    "batch_size": int,
    "learning_rate_multiplier": float,
    "beta": float,
}


def arguments(finetune: argparse.ArgumentParser) -> None:
    """The subcommands of ``deltajudge finetune`` (an entry of `deltajudge.cli.commands`)."""
    finetune.set_defaults(handler=run)
    actions = finetune.add_subparsers(dest="action", required=True)

    create = actions.add_parser("create", help="validate, upload and start a fine-tuning job")
    _connection(create)
    create.add_argument(
        "--method", choices=["sft", "dpo", "reinforcement"], required=True, help="training method"
    )
    create.add_argument("--model", required=True, metavar="BASE", help="the model to fine-tune")
    create.add_argument(
        "--train", type=Path, required=True, metavar="TRAIN.jsonl", help="training file"
    )
    create.add_argument("--val", type=Path, metavar="VAL.jsonl", help="validation file")
    for name, kind in _HYPERPARAMETERS.items():
        create.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            dest=name,
            help="hyperparameter (default: the provider's)",
        )
    create.add_argument("--seed", type=int, help="the job's seed")
    create.add_argument("--suffix", help="a tag in the fine-tuned model's name")
    create.add_argument(
        "--grader", type=Path, metavar="RUBRIC|GRADER.json", help="reinforcement: the reward"
    )
    create.add_argument("--grader-name", metavar="NAME", help="which of the rubric's graders")
    create.add_argument(
        "--training-type", choices=["GlobalStandard", "Standard", "Developer"], help="Azure only"
    )
    create.add_argument("--interval", type=float, default=2.0, metavar="S", help=_POLL_HELP)

    watch = actions.add_parser("watch", help="follow a job; on success write its model as an alias")
    _connection(watch)
    watch.add_argument("job", help="the job id (ftjob-...)")
    watch.add_argument("--alias", default="candidate", help="alias to write (default: candidate)")
    watch.add_argument("--config", type=Path, metavar="FILE", help="config to write the alias to")
    watch.add_argument("--interval", type=float, default=15.0, metavar="S", help="seconds per poll")

    listing = actions.add_parser("list", help="recent jobs")
    _connection(listing)
    listing.add_argument("--limit", type=int, default=20, help="how many jobs (20)")
    cancel = actions.add_parser("cancel", help="cancel a job")
    _connection(cancel)
    cancel.add_argument("job", help="the job id (ftjob-...)")
    checkpoints = actions.add_parser("checkpoints", help="a job's checkpoints (steps, metrics)")
    _connection(checkpoints)
    checkpoints.add_argument("job", help="the job id (ftjob-...)")
    checkpoints.add_argument(
        "--alias-prefix",
        metavar="PREFIX",
        help="also write each checkpoint as alias PREFIX<step> (model ftjob:JOB@<step>)",
    )
    checkpoints.add_argument("--config", type=Path, metavar="FILE", help="config to write to")


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider", choices=["openai", "azure"], required=True, help="where the job runs"
    )
    parser.add_argument(
        "--base-url", metavar="URL", help="Azure: https://RESOURCE.openai.azure.com/openai/v1/"
    )


def run(ns: argparse.Namespace) -> int:
    if ns.action == "create":
        return create(ns)
    from deltajudge.generation import finetune as ft

    client = ft.connect(ns.provider, ns.base_url)
    if ns.action == "watch":
        return watch(client, ns)
    if ns.action == "list":
        for job in ft.list_jobs(client, ns.limit):
            print(
                f"{job.id}  {job.status:<16} {job.method or '-':<13} {job.model}  "
                f"{job.fine_tuned_model or ''}"
            )
        return 0
    if ns.action == "cancel":
        job = ft.cancel(client, ns.job)
        print(f"{job.id}: {job.status}")
        return 0
    return _checkpoints(client, ns)


def _checkpoints(client: openai.OpenAI, ns: argparse.Namespace) -> int:
    """List them; with ``--alias-prefix`` each becomes an alias, so one run sweeps them."""
    from deltajudge.generation import finetune as ft

    found = ft.checkpoints(client, ns.job)
    for checkpoint in found:
        metrics = "  ".join(f"{k}={v:g}" for k, v in sorted(checkpoint.metrics.items()))
        print(f"step {checkpoint.step:>6}  {checkpoint.model}  {metrics}")
    if ns.alias_prefix is None:
        return 0
    if not found:
        print(f"{ns.job} has no checkpoints yet; nothing was written", file=sys.stderr)
        return EXIT_JOB_FAILED
    from deltajudge.settings_edit import config_path, write_alias

    path, nested = config_path(Path.cwd(), ns.config)
    aliases = [f"{ns.alias_prefix}{c.step}" for c in found]
    for alias, checkpoint in zip(aliases, found, strict=True):
        write_alias(path, nested, alias, _alias_values(ns, f"ftjob:{ns.job}@{checkpoint.step}"))
    print(f"wrote {', '.join(aliases)} to {path}; list them in a rubric's models to sweep them")
    return 0


def _alias_values(ns: argparse.Namespace, model: str) -> dict[str, str]:
    """An alias that reaches the model the way this command reached the provider."""
    values = {"model": model}
    if ns.provider == "azure":
        values |= {"provider": "azure", "api_key_env": "AZURE_OPENAI_API_KEY"}
    if ns.base_url:
        values["base_url"] = ns.base_url
    return values


def create(ns: argparse.Namespace) -> int:
    """Refuse bad files before anything is uploaded; then upload, wait, and start the job."""
    from deltajudge.cases.finetune_shape import check_file
    from deltajudge.generation import finetune as ft

    spec = _spec(ns)
    ft.method_block(spec)  # a bad flag combination fails before any upload
    problems = [
        p for path in (ns.train, ns.val) if path is not None for p in check_file(path, ns.method)
    ]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"deltajudge: {len(problems)} problem(s); nothing was uploaded", file=sys.stderr)
        return EXIT_REFUSED
    client = ft.connect(ns.provider, ns.base_url)
    training = ft.upload(client, ns.train, poll_s=ns.interval)
    validation = ft.upload(client, ns.val, poll_s=ns.interval) if ns.val is not None else None
    job = ft.create_job(client, spec, training, validation)
    print(f"created {job.id} ({ns.method} on {job.model}), status {job.status}")
    where = f" --base-url {ns.base_url}" if ns.base_url else ""
    print(f"watch it: deltajudge finetune watch {job.id} --provider {ns.provider}{where}")
    return 0


def _spec(ns: argparse.Namespace) -> JobSpec:
    from deltajudge.generation.finetune import JobSpec

    if ns.training_type is not None and ns.provider != "azure":
        raise ConfigError("--training-type is a Foundry setting: use it with --provider azure")
    hyper = {k: getattr(ns, k) for k in _HYPERPARAMETERS if getattr(ns, k) is not None}
    return JobSpec(
        method=ns.method,
        model=ns.model,
        hyperparameters=hyper,
        seed=ns.seed,
        suffix=ns.suffix,
        grader=_grader(ns.grader, ns.grader_name) if ns.grader is not None else None,
        training_type=ns.training_type,
    )


def _grader(path: Path, name: str | None) -> dict[str, Any]:
    if path.suffix in (".yaml", ".yml"):
        return _rubric_grader(path, name)
    try:
        grader = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the grader: {exc}", path=path) from None
    if not isinstance(grader, dict) or not isinstance(grader.get("type"), str):
        raise ConfigError(
            "expected one grader object with a 'type' (score_model, python, multi, ...)",
            path=path,
        )
    return grader


def watch(client: openai.OpenAI, ns: argparse.Namespace) -> int:
    """Poll until the job ends. Ctrl-C only stops watching: the job goes on, and watching
    again shows it from the start. The config is written only for a job that succeeded."""
    from deltajudge.generation import finetune as ft

    seen: set[str] = set()
    status = None
    try:
        while True:
            job = ft.retrieve(client, ns.job)
            if job.status != status:
                status = job.status
                print(f"{job.id}: {status}")
            for event in ft.events(client, ns.job):
                if event.id not in seen:
                    seen.add(event.id)
                    print(f"  {_event_line(event)}")
            if job.ended:
                return _finish(job, ns)
            time.sleep(ns.interval)
    except KeyboardInterrupt:
        print(f"\nstopped watching; {ns.job} keeps running. Watch again with the same command.")
        return EXIT_INTERRUPTED


def _event_line(event: Event) -> str:
    data = event.data
    if "step" in data and "train_loss" in data:
        total = f"/{data['total_steps']}" if "total_steps" in data else ""
        return f"step {data['step']}{total}  train_loss={data['train_loss']}"
    return f"[{event.level}] {event.message}"


def _finish(job: Job, ns: argparse.Namespace) -> int:
    if job.status != "succeeded" or job.fine_tuned_model is None:
        print(
            f"{job.id} {job.status}: {job.error or 'the provider gave no reason'}", file=sys.stderr
        )
        print("nothing was written to the config", file=sys.stderr)
        return EXIT_JOB_FAILED
    from deltajudge.settings_edit import config_path, write_alias

    path, nested = config_path(Path.cwd(), ns.config)
    write_alias(path, nested, ns.alias, _alias_values(ns, job.fine_tuned_model))
    tokens = f", {job.trained_tokens} trained tokens" if job.trained_tokens else ""
    print(f"{job.fine_tuned_model} ({job.method or 'supervised'} on {job.model}{tokens})")
    print(f"wrote models.{ns.alias} to {path}; compare it with the base: deltajudge run")
    if ns.provider == "azure":
        print(
            "Azure: deploy the fine-tuned model, then set that alias's model to the deployment name"
        )
    return 0


def _rubric_grader(path: Path, name: str | None) -> dict[str, Any]:
    """A rubric's grader as RFT takes it, as ``deltajudge export rft-grader`` writes it,
    with aliases written as the config's model ids."""
    from deltajudge.judging.evals_export import export_rft_grader
    from deltajudge.judging.loading import load_rubric
    from deltajudge.settings import load_settings

    models = load_settings(Path.cwd()).models
    rubric = load_rubric(path).rubric
    grader, notes = export_rft_grader(
        rubric, lambda alias: models[alias].model if alias in models else alias, name
    )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return grader
