"""Rubric files: the schema, and errors that read like a compiler's (``file:line:col``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltajudge.errors import RubricError
from deltajudge.judging.grader_specs import ScoreModelGrader, StringCheckGrader
from deltajudge.judging.loading import load_rubric
from deltajudge.judging.rubric import parse_rubric

ROOT = Path(__file__).resolve().parents[1]

VALID = """\
name: tone
dataset: data.jsonl
models: [base, cand]
graders:
  - name: tone
    type: score_model
    model: judge
    range: [0, 4]
    pass_threshold: 2
    input:
      - role: user
        content: "{{ prompt }} -> {{ sample.output_text }}"
gates:
  - metric: mean_delta
    grader: tone
    min: 0
"""
# Line numbers in VALID, for the assertions below.
GRADER_LINE, RANGE_LINE, THRESHOLD_LINE, CONTENT_LINE, GATE_LINE = 5, 8, 9, 12, 14


def _error(text: str, path: Path = Path("rubrics/tone.yaml")) -> RubricError:
    with pytest.raises(RubricError) as info:
        parse_rubric(text, path)
    return info.value


def _project(tmp_path: Path, rubric: str, rows: list[dict[str, object]]) -> Path:
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    path = tmp_path / "tone.yaml"
    path.write_text(rubric, encoding="utf-8")
    return path


def _load_error(tmp_path: Path, rubric: str, rows: list[dict[str, object]]) -> RubricError:
    path = _project(tmp_path, rubric, rows)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert info.value.path == path
    return info.value


PROMPT_ROWS: list[dict[str, object]] = [{"id": "a", "input": "Hi"}, {"id": "b", "input": "Yo"}]
SFT_ROWS: list[dict[str, object]] = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
]


# -- the schema ------------------------------------------------------------------------------


def test_a_valid_rubric_parses_into_the_evals_vocabulary() -> None:
    rubric, positions = parse_rubric(VALID, Path("tone.yaml"))

    assert (rubric.baseline, rubric.candidates) == ("base", ["cand"])
    (grader,) = rubric.graders
    assert isinstance(grader, ScoreModelGrader)
    assert (grader.range, grader.pass_threshold, grader.model) == ((0.0, 4.0), 2, "judge")
    assert rubric.judge_aliases() == {"judge"}
    assert positions[("graders", 0, "range")] == (RANGE_LINE, 5)


def test_the_bundled_good_vibes_rubric_loads_with_its_test_split() -> None:
    loaded = load_rubric(ROOT / "rubrics" / "good_vibes_tone.yaml")

    assert loaded.name == "good_vibes_tone"
    assert len(loaded.cases) == 36
    tone = loaded.rubric.grader("tone")
    assert isinstance(tone, ScoreModelGrader)  # the DPO guide's judge: 0-4, passing at 2
    assert (tone.range, tone.pass_threshold, tone.model) == ((0.0, 4.0), 2, "judge")
    assert isinstance(loaded.rubric.grader("answered"), StringCheckGrader)
    assert loaded.rubric.gates  # a bundled suite that cannot fail CI would be a demo
    assert loaded.dataset_path == ROOT / "fixtures" / "good_vibes" / "test.jsonl"


def test_the_grader_hash_follows_the_definition_only() -> None:
    rubric, _ = parse_rubric(VALID, Path("a.yaml"))
    same, _ = parse_rubric(VALID.replace("name: tone\n", "name: other\n", 1), Path("b.yaml"))
    edited, _ = parse_rubric(VALID.replace("-> {{", "=> {{"), Path("a.yaml"))

    assert rubric.graders[0].definition_hash() == same.graders[0].definition_hash()
    assert rubric.graders[0].definition_hash() != edited.graders[0].definition_hash()


# -- schema errors, with line and column -------------------------------------------------------


def test_an_unknown_key_points_at_the_key() -> None:
    error = _error(VALID.replace("    range:", "    rang:"))

    assert (error.line, error.column) == (RANGE_LINE, 5)
    assert error.render().splitlines() == [
        f"rubrics/tone.yaml:{RANGE_LINE}:5: graders[0].rang: unknown key",
        "Hint: did you mean 'range'?",
    ]


def test_a_misspelt_top_level_key() -> None:
    error = _error(VALID.replace("gates:", "gate:"))

    assert error.render().startswith(f"rubrics/tone.yaml:{GATE_LINE - 1}:1: gate: unknown key")


def test_a_reversed_range_names_the_range_and_its_values() -> None:
    error = _error(VALID.replace("[0, 4]", "[4, 0]"))

    assert error.line == RANGE_LINE
    assert error.message == "graders[0].range: expected [min, max] with min < max (got [4, 0])"


def test_a_pass_threshold_outside_the_range() -> None:
    error = _error(VALID.replace("pass_threshold: 2", "pass_threshold: 5"))

    assert error.line == THRESHOLD_LINE
    assert error.message == (
        "graders[0].pass_threshold: expected a value inside range [0, 4] (got 5)"
    )


def test_an_unknown_grader_type_lists_the_known_ones() -> None:
    error = _error(VALID.replace("type: score_model", "type: score_modle"))

    assert error.line == GRADER_LINE
    assert error.message.startswith(
        "graders[0]: unknown grader type 'score_modle'; expected one of: score_model, "
        "label_model, string_check"
    )


def test_a_missing_key() -> None:
    error = _error(VALID.replace("    model: judge\n", ""))

    assert error.line == GRADER_LINE
    assert error.message == "graders[0].model: required key is missing"


def test_a_wrong_type_shows_what_it_got() -> None:
    error = _error(VALID.replace("models: [base, cand]", "models: base"))

    assert error.line == 3
    assert error.message.startswith("models: ") and error.message.endswith("(got 'base')")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("models: [base, cand]", "models: [base, base]"), "models: an alias appears twice"),
        (
            (
                "gates:",
                "  - name: tone\n    type: string_check\n    reference: x\n"
                "    operation: eq\ngates:",
            ),
            "graders: grader names must be unique",
        ),
        (("    min: 0\n", ""), "gates[0]: a gate needs `min`, `max`, `above` or `below`"),
        (
            ("    min: 0\n", "    min: 2\n    max: 1\n"),
            "gates[0]: the lower bound (2.0) is above the upper bound (1.0)",
        ),
    ],
)
def test_cross_field_rules(edit: tuple[str, str], message: str) -> None:
    error = _error(VALID.replace(*edit))

    assert error.message.startswith(message)
    assert error.line is not None


def test_yaml_syntax_errors_carry_their_position() -> None:
    error = _error(VALID.replace("models: [base, cand]", "models: [base, cand"))

    assert error.message.startswith("not valid YAML:")
    assert error.line is not None and error.line >= 3


def test_a_file_that_is_not_a_mapping() -> None:
    error = _error("- just\n- a list\n")

    assert error.message == "expected a mapping with name, dataset, models, graders"


# -- references between parts, checked when the rubric is loaded ------------------------------


def test_a_gate_on_an_unknown_grader(tmp_path: Path) -> None:
    error = _load_error(tmp_path, VALID.replace("grader: tone", "grader: tones"), PROMPT_ROWS)

    assert error.line == GATE_LINE + 1
    assert error.message == "gates[0].grader: unknown grader 'tones' (graders: tone)"


def test_a_gate_on_a_model_that_is_not_compared(tmp_path: Path) -> None:
    rubric = VALID.replace("    min: 0\n", "    min: 0\n    model: other\n")
    error = _load_error(tmp_path, rubric, PROMPT_ROWS)

    assert error.message == "gates[0].model: 'other' is not one of models ['base', 'cand']"


def test_a_delta_gate_needs_two_models(tmp_path: Path) -> None:
    error = _load_error(tmp_path, VALID.replace("[base, cand]", "[base]"), PROMPT_ROWS)

    assert error.message == "gates[0].metric: mean_delta needs a baseline and a candidate in models"


def test_a_missing_dataset_file(tmp_path: Path) -> None:
    error = _load_error(tmp_path, VALID.replace("data.jsonl", "missing.jsonl"), PROMPT_ROWS)

    assert error.line == 2
    assert error.message.startswith("dataset: file not found: missing.jsonl (resolved to ")
    assert error.hint == "`dataset` is relative to the rubric file"


def test_a_reference_template_on_a_data_set_without_references(tmp_path: Path) -> None:
    rubric = VALID.replace("{{ prompt }}", "{{ reference }}")

    error = _load_error(tmp_path, rubric, PROMPT_ROWS)

    assert error.line == CONTENT_LINE
    assert error.message == (
        "graders[0].input[0].content: undefined variable: 'reference' is undefined "
        "(this data set has no reference answers) (case a)"
    )
    assert error.render().startswith(f"{tmp_path / 'tone.yaml'}:{CONTENT_LINE}:")


def test_the_same_template_loads_when_the_data_set_has_references(tmp_path: Path) -> None:
    loaded = load_rubric(
        _project(tmp_path, VALID.replace("{{ prompt }}", "{{ reference }}"), SFT_ROWS)
    )

    assert loaded.cases[0].reference == "Hello!"


def test_a_misspelt_template_variable(tmp_path: Path) -> None:
    rubric = VALID.replace("sample.output_text", "sampel.output_text")

    error = _load_error(tmp_path, rubric, PROMPT_ROWS)

    assert error.line == CONTENT_LINE
    assert "undefined variable: 'sampel' is undefined (case a)" in error.message


def test_item_fields_are_checked_per_row(tmp_path: Path) -> None:
    rows: list[dict[str, object]] = [
        {"id": "a", "input": "Hi", "topic": "x"},
        {"id": "b", "input": "Yo"},
    ]
    error = _load_error(tmp_path, VALID.replace("{{ prompt }}", "{{ item.topic }}"), rows)

    assert "'topic'" in error.message and error.message.endswith("(case b)")


def test_a_template_syntax_error(tmp_path: Path) -> None:
    error = _load_error(tmp_path, VALID.replace("{{ prompt }}", "{{ prompt }"), PROMPT_ROWS)

    assert error.line == CONTENT_LINE
    assert error.message.startswith("graders[0].input[0].content: template syntax error:")


def test_a_paired_gate_on_the_baseline_fails_at_collection(tmp_path: Path) -> None:
    rubric = VALID + "    model: base\n"
    error = _load_error(tmp_path, rubric, PROMPT_ROWS)
    assert error.line == GATE_LINE + 3
    assert "mean_delta compares a candidate with the baseline; 'base' is the baseline" in str(error)


def test_a_multi_sub_grader_takes_its_name_from_its_key() -> None:
    rubric, _ = parse_rubric(
        VALID.replace(
            "gates:",
            """\
  - name: both
    type: multi
    calculate_output: "0.5 * polite + 0.5 * short"
    graders:
      polite: {type: string_check, operation: ilike, reference: please}
      short: {type: python, source: "def grade(sample, item): return 1.0"}
gates:""",
        ),
        Path("rubrics/tone.yaml"),
    )
    multi = rubric.grader("both")
    assert [g.name for g in multi.graders.values()] == ["polite", "short"]  # type: ignore[union-attr]


def test_a_misspelt_required_key_is_named_before_the_missing_one() -> None:
    """`datset:` also leaves `dataset` missing; the typo is what to fix, and where it is."""
    error = _error(VALID.replace("dataset:", "datset:"))

    assert error.render().splitlines() == [
        "rubrics/tone.yaml:2:1: datset: unknown key (and 1 more problem)",
        "Hint: did you mean 'dataset'?",
    ]


def test_a_misspelt_grader_key_gets_the_closest_known_key() -> None:
    error = _error(VALID.replace("pass_threshold:", "pass_treshold:"))

    assert error.line == THRESHOLD_LINE
    assert error.hint == "did you mean 'pass_threshold'?"


def test_an_unknown_key_unlike_any_known_one_gets_no_guess() -> None:
    error = _error(VALID.replace("    range:", "    zzzzqqq:"))

    assert error.message.startswith("graders[0].zzzzqqq: unknown key") and error.hint is None
