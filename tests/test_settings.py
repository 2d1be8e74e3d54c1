"""Settings: where they come from (file < DELTAJUDGE_* < command line) and what a mistake says."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltajudge.constants import DEFAULT_CONCURRENCY, DEFAULT_REPORT_DIR
from deltajudge.errors import ConfigError
from deltajudge.settings import Settings, load_settings, parse_assignment, set_dotted

CONFIG = """\
concurrency = 3
report_dir = "from-file"
max_retries = 1

[models.cand]
model = "cand-m"
base_url = "http://127.0.0.1:9/v1"
params = { temperature = 0.5 }
"""


def _toml(tmp_path: Path, text: str = CONFIG, name: str = "deltajudge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={}, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_defaults_without_any_config(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    assert settings == Settings()
    assert (settings.concurrency, settings.report_dir) == (DEFAULT_CONCURRENCY, DEFAULT_REPORT_DIR)
    assert settings.models == {} and settings.cache and not settings.offline


def test_a_deltajudge_toml_is_read_at_its_top_level(tmp_path: Path) -> None:
    _toml(tmp_path)

    settings = load_settings(tmp_path, environ={})

    assert (settings.concurrency, settings.report_dir, settings.max_retries) == (3, "from-file", 1)
    cand = settings.models["cand"]
    assert (cand.model, cand.api, cand.params) == ("cand-m", "chat", {"temperature": 0.5})
    assert cand.api_key_env == "OPENAI_API_KEY"


def test_pyproject_is_read_under_tool_deltajudge(tmp_path: Path) -> None:
    _toml(
        tmp_path, "[project]\nname = 'x'\n\n[tool.deltajudge]\nconcurrency = 5\n", "pyproject.toml"
    )

    assert load_settings(tmp_path, environ={}).concurrency == 5


def test_deltajudge_toml_wins_over_pyproject(tmp_path: Path) -> None:
    _toml(tmp_path, "[tool.deltajudge]\nconcurrency = 5\n", "pyproject.toml")
    _toml(tmp_path, "concurrency = 6\n")

    assert load_settings(tmp_path, environ={}).concurrency == 6


def test_an_explicit_config_file(tmp_path: Path) -> None:
    explicit = _toml(tmp_path, "concurrency = 7\n", "ci.toml")
    _toml(tmp_path, "concurrency = 6\n")

    assert load_settings(tmp_path, config_file=explicit, environ={}).concurrency == 7
    missing = _error(tmp_path, config_file=tmp_path / "nope.toml")
    assert missing.render() == f"{tmp_path / 'nope.toml'}: config file not found"


def test_precedence_file_then_environment_then_command_line(tmp_path: Path) -> None:
    _toml(tmp_path)
    environ = {"DELTAJUDGE_CONCURRENCY": "9", "DELTAJUDGE_REPORT_DIR": "from-env"}

    from_env = load_settings(tmp_path, environ=environ)
    from_cli = load_settings(
        tmp_path,
        environ=environ,
        overrides={"concurrency": 11, "models.cand.params.temperature": 0.0},
    )

    assert (from_env.concurrency, from_env.report_dir, from_env.max_retries) == (9, "from-env", 1)
    assert (from_cli.concurrency, from_cli.report_dir) == (11, "from-env")
    assert from_cli.models["cand"].params == {"temperature": 0.0}
    assert from_cli.models["cand"].model == "cand-m"  # a dotted override keeps the rest


def test_environment_values_are_read_like_toml(tmp_path: Path) -> None:
    environ = {
        "DELTAJUDGE_CACHE": "false",
        "DELTAJUDGE_TIMEOUT_S": "2.5",
        "DELTAJUDGE_CACHE_DIR": ".my-cache",
        "DELTAJUDGE_BASELINE": "reports/accepted.json",  # an optional setting
        "DELTAJUDGE_TRANSPORT": "httpx",  # a choice
        "DELTAJUDGE_MODELS": "ignored: not a scalar setting",
        "OPENAI_API_KEY": "sk-not-a-setting",
    }

    settings = load_settings(tmp_path, environ=environ)

    assert (settings.cache, settings.timeout_s, settings.cache_dir) == (False, 2.5, ".my-cache")
    assert (settings.baseline, settings.transport) == ("reports/accepted.json", "httpx")
    assert settings.models == {}


def test_the_process_environment_is_used_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DELTAJUDGE_OFFLINE", "true")

    assert load_settings(tmp_path).offline is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("concurrency=4", ("concurrency", 4)),
        (" offline = true ", ("offline", True)),
        (
            "models.judge.base_url=http://127.0.0.1:8000/v1",
            ("models.judge.base_url", "http://127.0.0.1:8000/v1"),
        ),
        ("models.cand.params.temperature=0.2", ("models.cand.params.temperature", 0.2)),
        ('models.cand.stop=["END"]', ("models.cand.stop", ["END"])),
        (
            "models.cand.model=ft:gpt-4.1-mini:org::abc",
            ("models.cand.model", "ft:gpt-4.1-mini:org::abc"),
        ),
        ("models.cand.system=a=b", ("models.cand.system", "a=b")),
        # Azure's api_version looks like a TOML date; it must stay the string it is.
        ("models.cand.api_version=2024-10-21", ("models.cand.api_version", "2024-10-21")),
    ],
)
def test_parse_assignment(text: str, expected: tuple[str, object]) -> None:
    assert parse_assignment(text, "--dj-set") == expected


@pytest.mark.parametrize("text", ["concurrency", "=4", " =4", ""])
def test_malformed_assignments(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_assignment(text, "--dj-set")

    assert info.value.message == f"--dj-set expects KEY=VALUE (got {text!r})"
    assert info.value.hint is not None and "--dj-set models.candidate.model=" in info.value.hint


def test_an_api_version_override_validates(tmp_path: Path) -> None:
    _toml(tmp_path)
    key, value = parse_assignment("models.cand.api_version=2024-10-21", "--dj-set")

    settings = load_settings(tmp_path, environ={}, overrides={key: value})

    assert settings.models["cand"].api_version == "2024-10-21"


def test_set_dotted_refuses_to_descend_into_a_scalar() -> None:
    table = {"models": {"cand": {"model": "x"}}}

    with pytest.raises(ConfigError) as info:
        set_dotted(table, "models.cand.model.name", "y")

    assert info.value.message == "cannot set 'models.cand.model.name': 'model' is not a table"


# -- errors name the file, the line and the key ------------------------------------------------


def test_an_unknown_key_names_file_line_key_and_the_known_keys(tmp_path: Path) -> None:
    path = _toml(tmp_path, CONFIG.replace('base_url = "', 'baseurl = "'))

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == f"{path}:7: models.cand.baseurl: unknown key"
    assert error.hint is not None
    assert error.hint.startswith("did you mean 'base_url'? expected one of: model, base_url,")


def test_an_unknown_top_level_key_hints_the_top_level_keys(tmp_path: Path) -> None:
    path = _toml(tmp_path, "concurency = 3\n")

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == f"{path}:1: concurency: unknown key"
    assert error.hint is not None and "concurrency" in error.hint and "base_url" not in error.hint


def test_a_wrong_type_names_the_key_and_the_value(tmp_path: Path) -> None:
    path = _toml(tmp_path, CONFIG.replace("max_retries = 1", 'max_retries = "twice"'))

    error = _error(tmp_path)

    assert error.path == path and error.line == 3
    assert error.message.startswith("max_retries: Input should be a valid integer")
    assert error.message.endswith("(got 'twice')")


def test_a_wrong_value_inside_a_model_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, CONFIG + 'api = "completion"\n')

    error = _error(tmp_path)

    assert (error.path, error.line) == (path, 9)
    assert error.message.startswith("models.cand.api: Input should be 'chat', 'responses' or")


def test_pyproject_errors_name_the_full_table_path(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[tool.deltajudge]\nconcurrency = 0\n", "pyproject.toml")

    error = _error(tmp_path)

    assert (error.path, error.line) == (path, 2)
    assert error.message.startswith("tool.deltajudge.concurrency: Input should be greater than")


def test_invalid_toml(tmp_path: Path) -> None:
    path = _toml(tmp_path, "concurrency = = 3\n")

    error = _error(tmp_path)

    assert error.path == path and error.message.startswith("not valid TOML:")


def test_a_bad_command_line_value_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    _toml(tmp_path)

    error = _error(tmp_path, overrides={"concurrenccy": 4})

    assert error.path is None
    assert error.message == "concurrenccy: unknown key (from the command line)"
    assert error.hint is not None and "concurrency" in error.hint


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    _toml(tmp_path)

    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={"DELTAJUDGE_CONCURRENCY": "0"})

    assert info.value.path is None
    assert info.value.message.startswith("concurrency: Input should be greater than or equal to 1")
    assert info.value.message.endswith("(from $DELTAJUDGE_CONCURRENCY)")


def test_update_baseline_without_a_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--dj-update-baseline needs a path"):
        load_settings(tmp_path, overrides={"update_baseline": True}, environ={})


# -- the usual first-hour mistakes --------------------------------------------------------------


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Notepad and some Windows editors write a BOM; tomllib alone calls it an invalid
    statement at 1:1, which nobody can see in their editor."""
    (tmp_path / "deltajudge.toml").write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())

    settings = load_settings(tmp_path, environ={})

    assert settings.concurrency == 3 and settings.models["cand"].model == "cand-m"


def test_a_bom_does_not_shift_the_line_of_an_error(tmp_path: Path) -> None:
    path = tmp_path / "deltajudge.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b"concurency = 3\n")

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == f"{path}:1: concurency: unknown key"


def test_invalid_toml_is_located_like_a_compiler_error(tmp_path: Path) -> None:
    path = _toml(tmp_path, CONFIG + "concurrency = \n")

    error = _error(tmp_path)

    assert (error.path, error.line, error.column) == (path, 9, 15)
    assert error.render().splitlines()[0] == f"{path}:9:15: not valid TOML: Invalid value"


def test_a_misspelt_required_key_is_named_before_the_missing_one(tmp_path: Path) -> None:
    """`modle = ...` makes `model` missing too; the typo is the thing to fix."""
    path = _toml(tmp_path, CONFIG.replace('model = "cand-m"', 'modle = "cand-m"'))

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == (
        f"{path}:6: models.cand.modle: unknown key (and 1 more problem)"
    )
    assert error.hint is not None and error.hint.startswith("did you mean 'model'? expected one")


def test_a_missing_model_points_at_its_table_without_dumping_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[models.cand]\nbase_url = "http://127.0.0.1:9/v1"\n')

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == f"{path}:1: models.cand.model: required key is missing"


def test_update_baseline_in_the_file_without_a_path_names_the_line_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A whole-settings check has no location of its own; it names its key, which is found."""
    path = _toml(
        tmp_path, CONFIG.replace("max_retries = 1", "max_retries = 1\nupdate_baseline = true")
    )

    error = _error(tmp_path)

    assert (error.path, error.line) == (path, 4)
    assert error.message.startswith("update_baseline: --dj-update-baseline needs a path to write")


def test_a_model_table_check_says_its_own_words_without_dumping_the_table(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[models.old]\nprovider = "recorded"\n')

    error = _error(tmp_path)

    assert error.render().splitlines()[0] == (
        f"{path}:1: models.old: provider recorded needs `path`: the recording to answer from"
    )
