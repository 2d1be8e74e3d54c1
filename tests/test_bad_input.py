"""Bad input never escapes as a traceback, a hang or silent nonsense: each mistake in a
data set or a rubric file is a deltajudge error naming the file and line, in well under a
second, and the legitimate oddities (a BOM, U+2028 in a string, YAML merge keys) load."""

from __future__ import annotations

import json
import string
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import QUIET_PLUGINS
from deltajudge.errors import DatasetError, RubricError, UserInputError
from deltajudge.judging.loading import LoadedRubric, load_rubric

RUBRIC = """\
name: demo
dataset: data.jsonl
models: [base, cand]
graders:
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    input:
      - role: user
        content: "{{ prompt }} {{ sample.output_text }}"
"""
ROWS = '{"id": "a", "input": "hello"}\n'


def _load(folder: Path, rubric: str | bytes = RUBRIC, rows: str | bytes = ROWS) -> LoadedRubric:
    data, path = folder / "data.jsonl", folder / "demo.yaml"
    data.write_bytes(rows.encode("utf-8") if isinstance(rows, str) else rows)
    path.write_bytes(rubric.encode("utf-8") if isinstance(rubric, str) else rubric)
    started = time.perf_counter()
    try:
        return load_rubric(path)
    finally:
        assert time.perf_counter() - started < 1.0, "took more than a second"


def _row(**fields: Any) -> str:
    return json.dumps(fields) + "\n"


def _chat(*messages: dict[str, Any]) -> str:
    return _row(messages=list(messages))


# -- data sets ----------------------------------------------------------------------------

BAD_ROWS = {
    "lone surrogate": ('{"id": "a", "input": "hi \\ud800"}\n', "input: holds a lone surrogate"),
    "surrogate in a key": ('{"id": "a", "input": "x", "\\udfff": 1}\n', "row: holds a lone"),
    "4,301-digit integer": (
        '{"id": "a", "input": "x", "n": ' + "7" * 4301 + "}\n",
        "invalid JSON: Exceeds the limit (4300 digits)",
    ),
    "deep nesting": ('{"input": "x", "n": ' + "[" * 5000 + "]" * 5000 + "}\n", "nested deeper"),
    "reference NaN": ('{"id": "a", "input": "x", "reference": NaN}\n', "invalid JSON: NaN"),
    "Infinity": ('{"id": "a", "input": "x", "w": -Infinity}\n', "invalid JSON: -Infinity"),
    "overflowing number": (
        '{"id": "a", "input": "x", "reference": 1e999}\n',
        "invalid JSON: 1e999 is out of range",
    ),
    "id true": (_row(id=True, input="x"), "id: expected a string or an integer, got bool"),
    "id empty": (_row(id="", input="x"), "id: is empty"),
    "id whitespace": (_row(id=" \t", input="x"), "id: is empty"),
    "id with ::": (_row(id="a::b", input="x"), "id: 'a::b' holds '::'"),
    "id with a newline": (_row(id="a\nb", input="x"), "id: 'a\\nb' holds '::', a line break"),
    "image content": (
        _chat({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}),
        "messages[0].content: expected text",
    ),
    "number content": (_chat({"role": "user", "content": 5}), "messages[0].content: expected"),
    "missing content": (_chat({"role": "user"}), "messages[0].content: expected text"),
    "no user turn": (
        _chat({"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}),
        "messages: needs at least one user turn",
    ),
    "preference without a user turn": (
        _row(
            input={"messages": [{"role": "system", "content": "s"}]},
            preferred_output=[{"role": "assistant", "content": "a"}],
        ),
        "input.messages: needs at least one user turn",
    ),
    "not UTF-8": (b'{"id": "a", "input": "x"}\n{"input": "\xff"}\n', "not UTF-8 text"),
}


@pytest.mark.parametrize("name", BAD_ROWS)
def test_bad_rows_are_located_errors(tmp_path: Path, name: str) -> None:
    rows, message = BAD_ROWS[name]

    with pytest.raises(DatasetError) as info:
        _load(tmp_path, rows=rows)

    assert info.value.path == tmp_path / "data.jsonl"
    assert info.value.line == (2 if name == "not UTF-8" else 1)
    assert info.value.message.startswith(message), info.value.message


GOOD_ROWS = {
    "a UTF-8 BOM": (b"\xef\xbb\xbf" + ROWS.encode(), "a"),
    "U+2028 inside a string": (json.dumps({"id": "b", "input": "x\u2028y"}) + "\n", "b"),
    "raw U+2028 inside a string": ('{"id": "c", "input": "x\u2028y"}\n', "c"),
    "brackets in text": (_row(id="d", input="[" * 500), "d"),
    "an integer id": (_row(id=7, input="x"), "7"),
    "text parts": (
        _chat({"role": "user", "content": [{"type": "text", "text": "hi"}]}),
        None,
    ),
    "assistant reference": (
        _chat({"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}),
        None,
    ),
}


@pytest.mark.parametrize("name", GOOD_ROWS)
def test_legitimate_oddities_load(tmp_path: Path, name: str) -> None:
    rows, case_id = GOOD_ROWS[name]

    (case,) = _load(tmp_path, rows=rows).cases

    assert case_id is None or case.id == case_id


# -- rubric files -------------------------------------------------------------------------


def _bomb(levels: int) -> str:
    """The billion-laughs shape: each anchor holds nine copies of the one before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


BAD_RUBRICS: dict[str, tuple[str | bytes, int | None, str]] = {
    "binary file": (bytes(range(256)) * 8, 2, "not UTF-8 text"),
    "NUL byte": (RUBRIC.encode() + b"\x00\n", 12, "holds a NUL byte"),
    "second gates": (
        RUBRIC + "gates:\n  - {metric: mean, grader: quality, min: 1}\ngates: []\n",
        14,
        "not valid YAML: duplicate key 'gates' (first given on line 12)",
    ),
    "duplicate nested key": (
        RUBRIC.replace("    range: [0, 4]\n", "    range: [0, 4]\n    range: [0, 1]\n"),
        9,
        "not valid YAML: duplicate key 'range' (first given on line 8)",
    ),
    "alias bomb (6 levels)": (RUBRIC + _bomb(6), 17, "not valid YAML: too large once its"),
    "alias bomb (9 levels)": (RUBRIC + _bomb(9), 17, "not valid YAML: too large once its"),
    "recursive alias": (RUBRIC + "extra: &me [*me]\n", 12, "not valid YAML: an alias refers"),
    "deep nesting": (RUBRIC + "x: " + "[" * 3000 + "]" * 3000 + "\n", 12, "not valid YAML: nest"),
    "infinite range": (
        RUBRIC.replace("[0, 4]", "[0, .inf]"),
        8,
        "graders[0].range[1]: Input should be a finite number",
    ),
    "NaN range": (RUBRIC.replace("[0, 4]", "[.nan, 4]"), 8, "graders[0].range[0]: Input should"),
    "lone surrogate": (
        RUBRIC.replace("name: demo", 'name: "demo \\ud800"'),
        1,
        "not valid YAML: holds a lone surrogate",
    ),
    "huge integer": (
        RUBRIC.replace("range: [0, 4]", "range: [0, " + "9" * 5000 + "]"),
        8,
        "not valid YAML: cannot read",
    ),
    "name with ::": (
        RUBRIC.replace("name: demo", "name: a::b"),
        1,
        "name: expected a one-line name",
    ),
    "gate name on two lines": (
        RUBRIC + 'gates:\n  - {name: "a\\nb", metric: mean, grader: quality, min: 1}\n',
        13,
        "gates[0].name: expected a one-line name",
    ),
    "template that raises": (
        RUBRIC.replace("{{ prompt }}", "{{ 1 / 0 }}"),
        11,
        "graders[0].input[0].content: rendering failed for case a: ZeroDivisionError",
    ),
    "dataset name with a NUL": (
        RUBRIC.replace("dataset: data.jsonl", 'dataset: "da\\0ta"'),
        2,
        "dataset: file not found: 'da\\x00ta'",
    ),
    "not a mapping": ("- just\n- a list\n", None, "expected a mapping"),
}


@pytest.mark.parametrize("name", BAD_RUBRICS)
def test_bad_rubric_files_are_located_errors(tmp_path: Path, name: str) -> None:
    text, line, message = BAD_RUBRICS[name]

    with pytest.raises(RubricError) as info:
        _load(tmp_path, rubric=text)

    assert info.value.path == tmp_path / "demo.yaml"
    assert info.value.line == line
    assert info.value.message.startswith(message), info.value.message


def test_merge_keys_bom_and_dates_are_fine(tmp_path: Path) -> None:
    rubric = (
        "\ufeff"
        + RUBRIC.replace("name: demo", "name: 2001-02-30")
        + "gates:\n"
        + "  - &gate {metric: mean, grader: quality, min: 1}\n"
        + "  - {<<: *gate, name: stricter, min: 2}\n"
    )

    loaded = _load(tmp_path, rubric=rubric)

    assert loaded.rubric.name == "2001-02-30"
    assert [(g.name, g.min) for g in loaded.rubric.gates] == [(None, 1), ("stricter", 2)]


# -- through pytest: collection errors, never a traceback ---------------------------------


def test_bad_files_fail_collection_with_their_location_only(pytester: pytest.Pytester) -> None:
    (pytester.path / "rubrics").mkdir()
    bad = {
        "dupe": (RUBRIC + "gates: []\ngates: []\n", ROWS),
        "bomb": (RUBRIC + _bomb(9), ROWS),
        "rows": (RUBRIC, '{"id": "x", "input": "\\ud800"}\n'),
    }
    for name, (rubric, rows) in bad.items():
        (pytester.path / f"{name}.jsonl").write_text(rows, encoding="utf-8")
        text = rubric.replace("dataset: data.jsonl", f"dataset: ../{name}.jsonl")
        (pytester.path / "rubrics" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (pytester.path / "deltajudge.toml").write_text(
        "".join(
            f'[models.{a}]\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n'
            for a in ("base", "cand", "judge")
        ),
        encoding="utf-8",
    )

    result = pytester.runpytest(*QUIET_PLUGINS, "--collect-only", "-q")

    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "rubrics/dupe.yaml:13:1: not valid YAML: duplicate key 'gates'" in out
    assert "rubrics/bomb.yaml:17:" in out and "too large once its aliases" in out
    assert "rows.jsonl:1: input: holds a lone surrogate" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out


# -- the property: anything gives a collection or a located deltajudge error -----------------

_NASTY = [
    "NaN",
    "-Infinity",
    "1e999",
    "9" * 4400,
    '"\\ud800"',
    '"a::b"',
    '""',
    '" "',
    "true",
    "null",
    "[]",
    "{}",
    '"\\u0000"',
    '"\\u2028"',
    "[" * 70 + "]" * 70,
]
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = [
    "id",
    "input",
    "prompt",
    "messages",
    "reference",
    "ideal",
    "preferred_output",
    "non_preferred_output",
    "role",
    "content",
]


_ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool", "robot"])
_CONTENT = st.text(max_size=8) | _JSON_VALUES | st.just([{"type": "image_url", "image_url": {}}])


@st.composite
def _row_line(draw: st.DrawFn) -> str:
    choice = draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4]))
    if choice == 0:  # a plausible row with random values in the keys that matter
        keys = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4, unique=True))
        fields = {k: draw(_JSON_VALUES) for k in keys}
        if draw(st.booleans()):
            fields["input"] = draw(st.text(min_size=1, max_size=10))
        return json.dumps(fields)
    if choice == 1:  # a prompt row with a nasty literal spliced into one field
        field = draw(st.sampled_from(["id", "input", "reference", "extra"]))
        fields = {"id": '"r"', "input": '"q"', field: draw(st.sampled_from(_NASTY))}
        return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    if choice == 2:  # a chat row with random roles and contents
        turns = st.fixed_dictionaries({"role": _ROLES, "content": _CONTENT})
        return json.dumps({"messages": draw(st.lists(turns, min_size=1, max_size=3))})
    if choice == 3:
        return json.dumps({"messages": draw(st.lists(_JSON_VALUES, max_size=3))})
    return draw(st.text(alphabet=string.printable + "\u2028\ufeff\x00", max_size=30))


_BASE = yaml.safe_load(RUBRIC)
_RUBRIC_KEYS = ["name", "dataset", "models", "graders", "gates", "case_check", "noise_check"]


@st.composite
def _rubric_text(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 5))
    if choice <= 2:  # the data set is only read when the rubric is valid: test it often
        return RUBRIC
    if choice == 3:  # the valid rubric with one value replaced
        data = json.loads(json.dumps(_BASE))
        key = draw(st.sampled_from(_RUBRIC_KEYS))
        grader_key = draw(
            st.sampled_from(["range", "name", "type", "input", "model", "pass_threshold"])
        )
        value = draw(_JSON_VALUES | st.sampled_from([float("inf"), float("nan"), 10**5000 % 7]))
        if draw(st.booleans()):
            data["graders"][0][grader_key] = value
        else:
            data[key] = value
        return yaml.safe_dump(data, allow_unicode=draw(st.booleans()))
    if choice == 4:  # the valid rubric plus random YAML-ish lines
        extra = draw(st.lists(st.text(alphabet="&*[]{}:,-!|>'\"#\n ab01", max_size=20), max_size=4))
        return RUBRIC + "\n".join(extra)
    return draw(st.text(alphabet=string.printable + "\ufeff\x85", max_size=80))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rubric=_rubric_text(), rows=st.lists(_row_line(), min_size=1, max_size=3))
def test_any_rubric_or_data_file_loads_or_fails_with_a_location(
    tmp_path: Path, rubric: str, rows: list[str]
) -> None:
    try:
        loaded = _load(tmp_path, rubric=rubric, rows="\n".join(rows) + "\n")
    except UserInputError as exc:
        assert exc.path is not None, exc
        assert str(exc).startswith(str(exc.path)), exc
        return
    for case in loaded.cases:
        assert case.id.strip() and "::" not in case.id and "\n" not in case.id
        assert all(m.content.encode("utf-8") is not None for m in case.messages)
        json.dumps(case.item, allow_nan=False).encode("utf-8")
    assert loaded.rubric.graders
