"""Typed settings: model aliases and run options.

Sources, later wins: ``[tool.deltajudge]`` in pyproject.toml (or a ``deltajudge.toml``
with the same keys at its top level, or the file given by ``--dj-config``), then
``DELTAJUDGE_*`` environment variables for top-level scalars, then ``--dj-*`` options.
API keys are never settings: a model names the environment variable that holds its key.
"""

from __future__ import annotations

import datetime
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deltajudge.constants import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_CACHE_DIR,
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REPORT_DIR,
    DEFAULT_TIMEOUT_S,
)
from deltajudge.errors import ConfigError

Api = Literal["chat", "responses", "completions"]
Provider = Literal["openai", "azure", "local", "recorded"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalOverrides(_Strict):
    """What an alias becomes when it falls back to the embedded model (no key, no endpoint)."""

    label: str | None = None
    system: str | None = None
    api: Api | None = None
    prompt_template: str | None = None
    stop: list[str] | None = None
    params: dict[str, Any] | None = None


class PriceConfig(_Strict):
    """USD per million tokens, for a model the built-in price table does not know."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class JobFacts(_Strict):
    """The fine-tuning job behind a ``model: ftjob:...`` alias, as the provider reports it.

    Filled in when the alias resolves (`deltajudge.generation.ftjob`), never read from a
    config file, and written to the report's model entry beside the scores."""

    job_id: str
    base_model: str
    method: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    trained_tokens: int | None = None
    #: ``ftjob:<job>@<step>``: the checkpoint's step (None: the job's final model).
    step: int | None = None


class ModelConfig(_Strict):
    """One named model alias, as `[tool.deltajudge.models.<alias>]` spells it."""

    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    api: Api = "chat"
    provider: Provider = "openai"
    api_version: str | None = None
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    concurrency: int | None = Field(default=None, ge=1, le=1024)
    label: str | None = None
    #: `api: completions` renders the conversation into one prompt (base checkpoints).
    prompt_template: str | None = None
    stop: list[str] | None = None
    #: `provider: local`: a GGUF file served by llama.cpp on loopback.
    model_path: str | None = None
    #: Context window per request slot (prompt + answer), in tokens.
    n_ctx: int = Field(default=2048, ge=128)
    #: Request slots the local server decodes together; also the alias's concurrency.
    n_parallel: int = Field(default=4, ge=1, le=64)
    n_threads: int | None = Field(default=None, ge=1)
    chat_format: str | None = None
    local: LocalOverrides | None = None
    #: Overrides the price table for this alias (USD per million tokens).
    price: PriceConfig | None = None
    #: `provider: recorded`: the recording (``deltajudge record``) that answers for it.
    path: str | None = None
    #: Set by resolution, never by a config file: see `JobFacts`.
    job: JobFacts | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _job_is_resolved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "job" in data:
            raise ValueError(
                "job: filled in from model = 'ftjob:<job id>' when the alias resolves; "
                "name the job in `model` instead"
            )
        return data

    @model_validator(mode="before")
    @classmethod
    def _recorded_needs_a_path(cls, data: Any) -> Any:
        """A recorded alias names its file; its model id is in the recording."""
        if isinstance(data, dict) and data.get("provider") == "recorded":
            if not data.get("path"):
                raise ValueError("provider recorded needs `path`: the recording to answer from")
            data = {"model": f"recorded:{data['path']}", **data}
        return data


#: A suite up to this many cases per rubric keeps one pytest item per case (``-k CASE_ID``
#: works, JUnit lists every case); at 100,000 cases the chunks make 50 items, not 100,000.
DEFAULT_CASE_ITEMS = 2000


class Settings(_Strict):
    """Everything a run needs to know that is not in a rubric file."""

    models: dict[str, ModelConfig] = Field(default_factory=dict)
    report_dir: str = DEFAULT_REPORT_DIR
    #: Where readers find report.html (a URL, or a CI artifact's name): summary.md links it.
    report_url: str | None = None
    cache_dir: str = DEFAULT_CACHE_DIR
    cache: bool = True
    offline: bool = False
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1024)
    #: Seconds to wait for an answer (each attempt), and to open a connection.
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    connect_timeout_s: float = Field(default=DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, le=20)
    transport: Literal["httpx", "aiohttp"] = "aiohttp"
    #: Model id -> price, added to (and overriding) the built-in price table.
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    #: Stop starting new cases once this many USD have been spent (cached calls are free).
    max_cost: float | None = Field(default=None, gt=0)
    #: Use the embedded local model for aliases with no endpoint when their key is unset.
    local_fallback: bool = False
    progress: bool = True
    #: Evaluate a seeded random subset of this many cases per rubric (``--dj-limit``).
    limit: int | None = Field(default=None, ge=1)
    #: The most per-case pytest items a rubric gets (``--dj-case-items``); a rubric with
    #: more cases is collected as items of this many consecutive cases each, since pytest
    #: keeps an item and its reports (~3 KB) per item for the whole session.
    case_items: int = Field(default=DEFAULT_CASE_ITEMS, ge=1)
    #: An accepted report.json to gate against (``--dj-baseline``), and how far a mean may fall.
    baseline: str | None = None
    update_baseline: bool = False
    #: Accept a baseline even from a partial run (``-k``, deselection, ``--dj-limit``).
    force_baseline: bool = False
    baseline_tolerance: float = Field(default=0.1, ge=0)
    #: Fine-tuning files every rubric's prompts are checked against (``--dj-training-file``).
    training_files: list[str] = Field(default_factory=list)
    #: ``fail`` makes a leaked evaluation prompt a collection error for every rubric;
    #: None leaves it to each rubric's ``leakage:`` (default ``warn``).
    leakage: Literal["warn", "fail"] | None = None
    #: ``--dj-batch``: send uncached requests to the Batch API (``submit``), or fill the
    #: cache from finished batches (``collect``); see `deltajudge.generation.batch`.
    batch: Literal["submit", "collect"] | None = None
    #: Per Batch input file; OpenAI's limits are 50,000 requests and 200 MB.
    batch_max_requests: int = Field(default=50_000, ge=1, le=50_000)
    batch_max_bytes: int = Field(default=200_000_000, ge=1_000, le=200_000_000)

    @model_validator(mode="after")
    def _update_needs_a_path(self) -> Settings:
        if self.update_baseline and self.baseline is None:
            raise ValueError(
                "update_baseline: --dj-update-baseline needs a path to write: "
                "add --dj-baseline PATH (or `baseline = PATH` in the config)"
            )
        return self


def find_config_file(rootdir: Path, explicit: Path | None = None) -> tuple[Path, bool] | None:
    """Return ``(path, nested)``: nested means the keys sit under ``[tool.deltajudge]``."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("config file not found", path=explicit)
        return explicit, explicit.name == "pyproject.toml"
    standalone = rootdir / "deltajudge.toml"
    if standalone.is_file():
        return standalone, False
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        return pyproject, True
    return None


def read_config_table(path: Path, nested: bool) -> dict[str, Any]:
    # utf-8-sig: Windows editors save a byte-order mark, which tomllib refuses as a statement.
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        from deltajudge.settings_errors import toml_error

        raise toml_error(exc, path) from None
    if nested:
        table = data.get("tool", {}).get("deltajudge", {})
    elif "tool" in data and "deltajudge" in data["tool"]:
        table = data["tool"]["deltajudge"]
    else:
        table = data
    if not isinstance(table, dict):
        raise ConfigError("[tool.deltajudge] must be a table", path=path)
    return table


_ENV_PREFIX = "DELTAJUDGE_"


def _is_scalar(annotation: Any) -> bool:
    """``int``, ``str``, a ``Literal`` and optional forms (``str | None``): what env vars set."""
    if get_origin(annotation) is Literal:
        return True
    kinds = set(get_args(annotation)) - {type(None)} if get_args(annotation) else {annotation}
    return bool(kinds) and kinds <= {bool, int, float, str}


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = environ.get(f"{_ENV_PREFIX}{name.upper()}")
        if raw is not None and _is_scalar(field.annotation):
            out[name] = _parse_scalar(raw)
    return out


def _parse_scalar(raw: str) -> Any:
    """Read a command-line value the way TOML would, falling back to a plain string.

    TOML dates stay strings: ``api_version=2024-10-21`` is Azure's version, not a date.
    """
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    return raw if isinstance(value, datetime.date | datetime.time) else value


def set_dotted(table: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply ``models.candidate.params.temperature = 0.2`` style overrides."""
    keys = dotted.split(".")
    node = table
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a table")
        node = child
    node[keys[-1]] = value


def parse_assignment(
    text: str,
    option: str,
    *,
    shape: str = "KEY=VALUE",
    example: str = "models.candidate.model=ft:gpt-4.1-mini:org::abc",
) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; ``shape`` and ``example`` are what the error
    shows, in the option's own terms (``--model`` takes ``ALIAS=MODEL``, not a dotted key)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"{option} expects {shape} (got {text!r})", hint=f"for example {option} {example}"
        )
    return key.strip(), _parse_scalar(raw.strip())


def load_settings(
    rootdir: Path,
    *,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge file < environment < command line and validate once, naming the source on error."""
    found = find_config_file(rootdir, config_file)
    table: dict[str, Any] = read_config_table(*found) if found else {}
    from_env = _env_overrides(dict(os.environ if environ is None else environ))
    table.update(from_env)
    for dotted, value in (overrides or {}).items():
        set_dotted(table, dotted, value)
    try:
        return Settings.model_validate(table)
    except ValidationError as exc:
        source = _source_of(exc.errors()[0]["loc"], from_env, overrides or {})
        path = found[0] if found and source is None else None
        from deltajudge.settings_errors import config_error_from

        raise config_error_from(exc, path, table, source=source) from None


def _source_of(
    loc: tuple[int | str, ...], from_env: dict[str, Any], overrides: dict[str, Any]
) -> str | None:
    """Where a bad value came from when it was not the file: a user who typed
    ``--dj-set concurrenccy=4`` must not be sent to look for it in deltajudge.toml."""
    parts = tuple(str(p) for p in loc)
    for dotted in overrides:
        keys = tuple(dotted.split("."))
        if keys[: len(parts)] == parts or parts[: len(keys)] == keys:
            return "the command line"
    if parts and parts[0] in from_env:
        return f"${_ENV_PREFIX}{parts[0].upper()}"
    return None
