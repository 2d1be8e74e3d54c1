"""The offline default's building blocks: the completions prompt template and the
fallback to the embedded model when an alias has neither an endpoint nor a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltajudge.errors import ConfigError
from deltajudge.generation.caller import render_prompt
from deltajudge.generation.models import (
    LOCAL_FALLBACK_LABEL,
    LOCAL_FALLBACK_MAX_OUTPUT_TOKENS,
    resolve_models,
)
from deltajudge.settings import Settings

MESSAGES = (
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "Let me check."},
    {"role": "user", "content": "It is #123."},
)


def test_template_sees_system_prompt_and_the_last_user_turn() -> None:
    text = render_prompt("{{ system }}|{{ prompt }}", MESSAGES)
    assert text == "You are a support agent.|It is #123."


def test_template_sees_the_conversation_without_the_system_turn() -> None:
    template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}Agent:"
    text = render_prompt(template, MESSAGES)
    assert text == "user: Where is my order?\nassistant: Let me check.\nuser: It is #123.\nAgent:"


def test_template_with_an_undefined_variable_is_an_error() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError, match="customer"):
        render_prompt("{{ customer }}", MESSAGES)


def _settings(**model: object) -> Settings:
    return Settings.model_validate(
        {
            "local_fallback": True,
            "models": {
                "judge": {
                    "model": "gpt-4.1-2025-04-14",
                    "local": {"api": "completions", "prompt_template": "{{ prompt }}\nScore:"},
                    **model,
                }
            },
        }
    )


def test_no_key_and_no_endpoint_falls_back_to_the_embedded_model() -> None:
    resolved = resolve_models(_settings(), ["judge"], environ={})["judge"]
    assert resolved.provider == "local"
    assert resolved.api == "completions"
    assert resolved.prompt_template == "{{ prompt }}\nScore:"
    assert resolved.label == LOCAL_FALLBACK_LABEL


def test_a_key_keeps_the_configured_model() -> None:
    resolved = resolve_models(_settings(), ["judge"], environ={"OPENAI_API_KEY": "sk-x"})["judge"]
    assert (resolved.provider, resolved.model, resolved.api) == (
        "openai",
        "gpt-4.1-2025-04-14",
        "chat",
    )


def test_an_endpoint_of_its_own_never_falls_back() -> None:
    settings = _settings(base_url="http://127.0.0.1:8000/v1")
    resolved = resolve_models(settings, ["judge"], environ={})["judge"]
    assert resolved.provider == "openai"
    assert resolved.base_url == "http://127.0.0.1:8000/v1"


def test_without_fallback_a_missing_key_names_the_alias_and_the_variable() -> None:
    settings = _settings(api_key_env="MY_JUDGE_KEY").model_copy(update={"local_fallback": False})
    with pytest.raises(ConfigError, match=r"'judge'.*\$MY_JUDGE_KEY"):
        resolve_models(settings, ["judge"], environ={})


def test_a_local_model_path_that_is_not_gguf_fails_at_resolution(tmp_path: Path) -> None:
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a model")
    settings = Settings.model_validate(
        {"models": {"judge": {"model": "x", "provider": "local", "model_path": str(not_gguf)}}}
    )
    with pytest.raises(ConfigError, match=r"'judge'.*weights\.bin is not a GGUF file"):
        resolve_models(settings, ["judge"], environ={})


def test_a_missing_local_model_file_fails_at_resolution(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"models": {"base": {"model": "x", "provider": "local", "model_path": "nope.gguf"}}}
    )
    with pytest.raises(ConfigError, match=r"'base'.*nope\.gguf does not exist"):
        resolve_models(settings, ["base"], environ={})


def test_a_fallback_alias_without_an_answer_limit_gets_one() -> None:
    """A `deltajudge init` project has no [models.*.local] blocks: unbounded, the pretrained
    model answered up to its context, every call timed out and the endpoint was marked down
    (measured: 5 cases, 130 s, 0 answers)."""
    settings = Settings.model_validate(
        {"local_fallback": True, "models": {"base": {"model": "gpt-4.1-mini"}}}
    )

    resolved = resolve_models(settings, ["base"], environ={})["base"]

    assert resolved.provider == "local"
    assert resolved.params == {"max_output_tokens": LOCAL_FALLBACK_MAX_OUTPUT_TOKENS}


@pytest.mark.parametrize(
    "model",
    [
        {"params": {"temperature": 0, "max_tokens": 40}},
        {"local": {"params": {"max_output_tokens": 2}}},
    ],
)
def test_a_fallback_keeps_the_answer_limit_it_was_given(model: dict[str, object]) -> None:
    settings = Settings.model_validate(
        {"local_fallback": True, "models": {"base": {"model": "gpt-4.1-mini", **model}}}
    )

    params = resolve_models(settings, ["base"], environ={})["base"].params

    assert LOCAL_FALLBACK_MAX_OUTPUT_TOKENS not in params.values()
    assert any(key in params for key in ("max_tokens", "max_output_tokens"))


@pytest.mark.parametrize(
    "model",
    [
        {"provider": "azure", "base_url": "https://r.openai.azure.com/openai/v1/"},
        {"base_url": "http://127.0.0.1:8000/v1", "api_key_env": "MY_PROXY_KEY"},
    ],
    ids=["azure", "named-variable"],
)
def test_an_endpoint_that_needs_a_key_is_refused_without_it(model: dict[str, object]) -> None:
    """Azure always wants its key, and a named `api_key_env` is one the user meant to set;
    without it every call was sent with a dummy key and failed as a 401 (or as a dead
    endpoint), after the run had started."""
    settings = Settings.model_validate({"models": {"cand": {"model": "m", **model}}})

    with pytest.raises(ConfigError, match=r"model alias 'cand' \(m\) needs an API key in \$"):
        resolve_models(settings, ["cand"], environ={})


def test_a_server_of_your_own_needs_no_key() -> None:
    settings = Settings.model_validate(
        {"models": {"cand": {"model": "m", "base_url": "http://127.0.0.1:8000/v1"}}}
    )

    assert resolve_models(settings, ["cand"], environ={})["cand"].base_url is not None
