"""Resolve model aliases before any call: fallbacks applied, keys checked, nothing sent.

This runs at collection time so that a missing key or an unknown alias is reported
before the first paid request, not after half a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from deltajudge import redaction
from deltajudge.errors import ConfigError, LocalServerError
from deltajudge.settings import ModelConfig, Settings

#: The label the report shows for an alias that fell back to the embedded model.
LOCAL_FALLBACK_LABEL = "embedded local model (offline stand-in)"


def resolve_models(
    settings: Settings,
    aliases: Iterable[str],
    environ: Mapping[str, str],
    *,
    need_keys: bool = True,
    alias_hint: Callable[[str], str] | None = None,
) -> dict[str, ModelConfig]:
    """The effective config of every alias a run uses, or a `ConfigError` naming the alias.

    ``need_keys=False`` (``--collect-only``) checks the aliases but not their API keys:
    listing the cases calls no model, so it must work without a key.
    """
    redaction.watch(config.api_key_env for config in settings.models.values())
    resolved: dict[str, ModelConfig] = {}
    for alias in sorted(set(aliases)):
        config = settings.models.get(alias) or literal_model(alias)
        if config is None:
            known = ", ".join(sorted(settings.models)) or "none"
            raise ConfigError(
                f"model alias {alias!r} is not configured (configured: {known})",
                hint=alias_hint(alias)
                if alias_hint is not None
                else f"add [tool.deltajudge.models.{alias}] with model = '...', "
                f"or pass --dj-model {alias}=MODEL_ID",
            )
        resolved[alias] = _effective(alias, config, settings, environ) if need_keys else config
    return resolved


#: Unconfigured "aliases" that are OpenAI model ids, as a grader pasted from OpenAI's
#: evals names its judge (``model: o3-mini``). Alias typos (``candidat``) do not match.
_OPENAI_MODEL_ID = re.compile(r"^(gpt-|o[1-9]|chatgpt-|text-embedding-|ft:)[\w.:\-]*$")


def literal_model(alias: str) -> ModelConfig | None:
    """A literal OpenAI model id used where an alias is expected: that model, default
    endpoint and key (or the embedded model under ``local_fallback``)."""
    return ModelConfig(model=alias) if _OPENAI_MODEL_ID.match(alias) else None


def needs_fallback(config: ModelConfig, environ: Mapping[str, str]) -> bool:
    """An alias with no endpoint of its own and no key can only be answered locally."""
    return (
        config.provider == "openai"
        and config.base_url is None
        and not environ.get(config.api_key_env)
    )


def _effective(
    alias: str, config: ModelConfig, settings: Settings, environ: Mapping[str, str]
) -> ModelConfig:
    if settings.offline:
        return config
    if config.provider == "recorded":
        assert config.path is not None
        if not Path(config.path).is_file():
            raise ConfigError(
                f"model alias {alias!r}: recording not found: {config.path}",
                hint=f"record the model first (deltajudge record ALIAS --rubric RUBRIC --out "
                f"{config.path}), or fix models.{alias}.path",
            )
        return config
    if settings.local_fallback and needs_fallback(config, environ):
        return _as_local(config)
    if config.provider == "local":
        _check_local(alias, config)
    if _needs_key(config) and not environ.get(config.api_key_env):
        raise ConfigError(
            f"model alias {alias!r} ({config.model}) needs an API key in ${config.api_key_env}",
            hint=f"export {config.api_key_env}=..., set api_key_env to the variable that "
            "holds it, or give the alias a base_url (vLLM, Ollama, a local server)",
        )
    if config.model.startswith("ftjob:"):  # a fine-tuning job (or a checkpoint) as the model
        from deltajudge.generation.ftjob import resolve_job_model

        return resolve_job_model(alias, config, environ)
    return config


def _needs_key(config: ModelConfig) -> bool:
    """OpenAI's own endpoint and Azure always need a key; a `base_url` of your own (vLLM,
    Ollama, a proxy) needs one only when the alias names its variable: an unset
    `api_key_env` there is a typo or a missing secret, found before any call instead of
    as a 401 on every case."""
    if config.provider == "local":
        return False
    return (
        config.base_url is None
        or config.provider == "azure"
        or "api_key_env" in config.model_fields_set
    )


def _check_local(alias: str, config: ModelConfig) -> None:
    """A local alias's file and settings, checked before any model is called."""
    from deltajudge.generation.local_checks import check_chat_format, check_model_file

    try:
        check_chat_format(config.chat_format, alias)
    except LocalServerError as exc:
        raise ConfigError(str(exc), hint=f"fix models.{alias}.chat_format") from None
    if config.model_path is None:
        return
    try:
        check_model_file(Path(config.model_path), alias)
    except LocalServerError as exc:
        raise ConfigError(str(exc), hint=f"set models.{alias}.model_path to a .gguf file") from None


#: Answer length of a fallback alias that sets none. The embedded model is pretrained, not
#: instruction-tuned: unbounded, it repeats itself to the end of its context, each call
#: outlives the timeout on a small CPU and the endpoint is marked down with nothing done.
LOCAL_FALLBACK_MAX_OUTPUT_TOKENS = 128
_LIMIT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _as_local(config: ModelConfig) -> ModelConfig:
    overrides = config.local.model_dump(exclude_none=True) if config.local else {}
    label = overrides.pop("label", None)
    params = dict(overrides.pop("params", config.params))
    if not any(key in params for key in _LIMIT_KEYS):
        params["max_output_tokens"] = LOCAL_FALLBACK_MAX_OUTPUT_TOKENS
    return config.model_copy(
        update={
            **overrides,
            "params": params,
            "provider": "local",
            "model": "embedded",
            "label": label or LOCAL_FALLBACK_LABEL,
        }
    )
