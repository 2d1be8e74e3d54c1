"""Secrets never leave the process: the redactor's patterns, and a 401 that echoes the key
run end to end, with every written file and the console scanned for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project, scores_by_marker
from deltajudge import redaction
from deltajudge.errors import CallError
from deltajudge.redaction import MASK, redact, scrub, strip_controls
from deltajudge.reporting.build import read_json, write_report_json
from deltajudge.reporting.html import write_html
from deltajudge.reporting.markdown import write_markdown
from deltajudge.testing import RecordedRequest, Reply, Rule
from report_factory import make_report

KEY = "sk-proj-Zq8vT3secretKEY0123456789"
PASSWORD = "hunter2-url-password"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DJ_TEST_LLM", KEY)  # a name no pattern guesses: only `watch` knows it
    redaction.watch(["DJ_TEST_LLM"])
    return "DJ_TEST_LLM"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("HTTP 401: Authorization: Bearer sk-abc12345678 no", "sk-abc12345678", "Bearer "),
        ('{"authorization": "Bearer eyJhbGciOi.x.y"}', "eyJhbGciOi", '"Bearer '),
        ("{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "dXNlcjpw", "'Basic "),
        ("proxy-authorization=abcdef", "abcdef", "proxy-authorization="),
        ("api-key: 0123456789abcdef", "0123456789", "api-key: "),
        ("x-api-key: short", "short", "x-api-key: "),
        ("https://r.openai.azure.com/openai?api-key=zzz&api-version=1", "zzz", "?api-key="),
        ("the token was bearer abcdefgh.ijkl", "abcdefgh", "bearer "),
        (f"cannot reach http://bob:{PASSWORD}@10.0.0.1:8000/v1", PASSWORD, "http://bob:"),
    ],
)
def test_headers_bearer_tokens_and_url_passwords_are_masked(
    text: str, secret: str, kept: str
) -> None:
    out = redact(text)

    assert secret not in out
    assert kept + MASK in out
    assert redact(out) == out  # masking twice changes nothing


def test_key_variables_are_masked_by_value_wherever_they_appear(
    key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-default-key-1")
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")  # named like a secret
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "definitely")  # not named like one
    monkeypatch.setenv("SHORT_KEY", "abc")  # too short to mask by value

    out = redact(
        f"model echoed {KEY}; env sk-openai-default-key-1 hf_abcdefghijklmnop; "
        'json "sk-proj-Zq8vT3secretKEY0123456789"; definitely abc'
    )

    assert KEY not in out and "sk-openai-default-key-1" not in out
    assert "hf_abcdefghijklmnop" not in out
    assert out.count(MASK) == 4
    assert out.endswith("definitely abc")


def test_ordinary_text_is_left_alone() -> None:
    text = "needs an API key in $OPENAI_API_KEY; authorization failed; http://host:8080/v1@x"
    assert redact(text) == text


def test_terminal_controls_are_stripped_but_tabs_and_newlines_stay() -> None:
    text = "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07bell\x07 \rcr\x08 \u202eevil\ttab\nline"

    assert strip_controls(text) == "red bell cr evil\ttab\nline"


def test_call_errors_are_scrubbed_when_made(key_env: str) -> None:
    error = CallError(f"HTTP 401 from m: bad key {KEY}\x1b[2J Authorization: Bearer {KEY}")

    assert str(error) == f"HTTP 401 from m: bad key {MASK} Authorization: Bearer {MASK}"
    assert scrub(str(error)) == str(error)


def _echo_key(request: RecordedRequest) -> str:
    header = request.headers["authorization"]
    token = header.split()[-1]
    escapes = "\x1b[2J\x1b]0;owned\x07"  # clear the screen, retitle the terminal
    return f"{escapes}Incorrect API key provided: {token}. You sent Authorization: {header}"


def _written_files(root: Path) -> list[Path]:
    """Everything the run wrote: all files but the project's own inputs."""
    inputs = {
        root / "deltajudge.toml",
        root / "rubrics" / "demo.yaml",
        root / "data" / "demo.jsonl",
    }
    return [p for p in root.rglob("*") if p.is_file() and p not in inputs]


@pytest.mark.parametrize(
    ("chunks", "failed"), [((), 3), (("--dj-case-items=2",), 2)], ids=["case-items", "chunks"]
)
def test_a_401_that_echoes_the_key_leaks_it_nowhere(
    project: Project, key_env: str, chunks: tuple[str, ...], failed: int
) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", reply=Reply(status=401, text=_echo_key)),
            *scores_by_marker({"[base-m]": 2}),
        ]
    )
    credentials_url = project.server.url.replace("http://", f"http://bob:{PASSWORD}@")
    project.write(
        # aiohttp refuses credentials in a URL next to an Authorization header; httpx sends them
        config_extra='transport = "httpx"',
        models={
            "base": {"api_key_env": key_env, "base_url": credentials_url},
            "cand": {"api_key_env": key_env},
            "judge": {"api_key_env": key_env},
        },
    )

    result = project.run("-rf", "-v", "--junitxml", "junit.xml", *chunks)

    result.assert_outcomes(failed=failed)
    assert any(
        r.headers.get("authorization") == f"Bearer {KEY}" for r in project.server.requests
    ), "the key was sent, so the server really echoed it"
    console = result.stdout.str() + result.stderr.str()
    assert "Incorrect API key provided" in console and "HTTP 401" in console
    assert "\x1b" not in console and "owned" not in console  # the server's escapes are gone
    written = {p.relative_to(project.path): p.read_bytes() for p in _written_files(project.path)}
    assert {Path("junit.xml"), Path("reports/latest/report.json")} <= written.keys()
    assert Path("reports/latest/report.html") in written
    assert Path("reports/latest/summary.md") in written
    assert any(p.name.startswith("cache") for p in written)
    assert b"Incorrect API key provided" in written[Path("reports/latest/report.json")]
    assert b"Incorrect API key provided" in written[Path("junit.xml")]
    for secret in (KEY, PASSWORD, KEY[-12:]):
        assert secret not in console
        for path, data in written.items():
            assert secret.encode() not in data, f"{secret} leaked into {path}"


def test_writers_mask_every_field_and_keep_the_report_valid(tmp_path: Path, key_env: str) -> None:
    report = make_report(12)
    case = report.rubrics[0].cases[0]
    sample = next(iter(case.samples.values()))
    leaky_case = case.model_copy(
        update={
            "prompt": f"my key is {KEY}",
            "samples": {
                **case.samples,
                "base": sample.model_copy(update={"output_text": f"Authorization: Bearer {KEY}"}),
            },
        }
    )
    rubric = report.rubrics[0].model_copy(
        update={"cases": [leaky_case, *report.rubrics[0].cases[1:]]}
    )
    models = {
        alias: info.model_copy(update={"base_url": f"https://u:{PASSWORD}@h/v1"})
        for alias, info in report.models.items()
    }
    leaky = report.model_copy(update={"rubrics": [rubric], "models": models})

    paths = [
        write_report_json(leaky, tmp_path / "report.json"),
        write_html(leaky, tmp_path / "report.html"),
        write_markdown(leaky, tmp_path / "summary.md"),
    ]

    for path in paths:
        data = path.read_text(encoding="utf-8")
        assert KEY not in data and PASSWORD not in data, path
    back = read_json(tmp_path / "report.json")
    assert back.rubrics[0].cases[0].prompt == f"my key is {MASK}"
    assert back.models["base"].base_url == f"https://u:{MASK}@h/v1"
    assert back.rubrics[0].cases[1:] == report.rubrics[0].cases[1:]
    write_report_json(report, tmp_path / "clean.json")  # nothing secret: written as is
    assert read_json(tmp_path / "clean.json") == report
