"""Data sets into cases: the three row shapes, stable ids, and ``path:line`` errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deltajudge.cases import Message, load_dataset
from deltajudge.cases.case import stable_id
from deltajudge.cases.datasets import detect_shape
from deltajudge.errors import DatasetError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, *rows: dict[str, Any] | str, name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _error(path: Path) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    return info.value


def _preference(user: str, good: str = "good", bad: str = "bad") -> dict[str, Any]:
    return {
        "input": {
            "messages": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": user},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


# -- shapes -------------------------------------------------------------------------------


def test_preference_rows_ask_the_input_and_keep_both_answers(tmp_path: Path) -> None:
    path = _write(tmp_path, _preference("Where is my parcel?", "Let me check!", "Wait."))

    (case,) = load_dataset(path)

    assert case.messages == (Message("system", "Be kind."), Message("user", "Where is my parcel?"))
    assert (case.reference, case.rejected) == ("Let me check!", "Wait.")
    assert case.prompt == "Where is my parcel?"
    assert (case.source, case.line) == (path, 1)
    assert case.item["preferred_output"][0]["content"] == "Let me check!"


def test_chat_rows_hold_back_the_last_assistant_turn_as_the_reference(tmp_path: Path) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Refund?"},
            {"role": "assistant", "content": "Of course, happily!"},
        ]
    }
    (case,) = load_dataset(_write(tmp_path, row))

    assert case.reference == "Of course, happily!"
    assert [m.content for m in case.messages] == ["Be kind.", "Hi", "Hello!", "Refund?"]
    assert case.messages[-1].role == "user"  # what is sent ends with the user's turn
    assert case.prompt == "Refund?"
    assert case.rejected is None


def test_chat_rows_without_a_final_assistant_turn_have_no_reference(tmp_path: Path) -> None:
    (case,) = load_dataset(_write(tmp_path, {"messages": [{"role": "user", "content": "Hi"}]}))

    assert (case.messages, case.reference) == ((Message("user", "Hi"),), None)


def test_a_chat_row_that_is_only_an_assistant_turn_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, {"messages": [{"role": "assistant", "content": "orphan"}]})

    error = _error(path)

    assert error.render().startswith(f"{path}:1: messages: needs a user turn before")


@pytest.mark.parametrize(
    ("row", "reference"),
    [
        ({"input": "Hello?"}, None),
        ({"prompt": "Hello?"}, None),
        ({"input": "Hello?", "reference": "Hi!"}, "Hi!"),
        ({"input": "Hello?", "ideal": "Hi!"}, "Hi!"),
    ],
)
def test_prompt_rows_become_one_user_message(
    tmp_path: Path, row: dict[str, Any], reference: str | None
) -> None:
    (case,) = load_dataset(_write(tmp_path, row))

    assert case.messages == (Message("user", "Hello?"),)
    assert case.reference == reference


def test_content_given_as_typed_parts_is_flattened_to_text(tmp_path: Path) -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]
    (case,) = load_dataset(_write(tmp_path, {"messages": [{"role": "user", "content": parts}]}))

    assert case.prompt == "Hello there"


@pytest.mark.parametrize(
    ("row", "shape"),
    [
        (_preference("q"), "preference"),
        ({"messages": []}, "chat"),
        ({"input": "q"}, "prompt"),
        ({"prompt": "q"}, "prompt"),
        ({"input": {"messages": []}}, None),  # preference input without preferred_output
        ({"question": "q"}, None),
    ],
)
def test_detect_shape(row: dict[str, Any], shape: str | None) -> None:
    assert detect_shape(row) == shape


def test_the_bundled_good_vibes_test_split_is_preference_data() -> None:
    cases = load_dataset(ROOT / "fixtures" / "good_vibes" / "test.jsonl")

    assert len(cases) == 36
    assert cases[0].id == "gv-test-001"
    assert all(c.reference and c.rejected for c in cases)
    assert all(c.messages[0].role == "system" and c.messages[-1].role == "user" for c in cases)


# -- ids -------------------------------------------------------------------------------------


def test_ids_are_the_given_id_or_a_slug_of_the_prompt(tmp_path: Path) -> None:
    first = load_dataset(
        _write(
            tmp_path,
            {"id": 7, "input": "a"},
            {"input": "My order arrived damaged. What can I do?"},
            {"input": "How do I reset my password?"},
        )
    )
    again = load_dataset(
        _write(
            tmp_path,
            {"input": "How do I reset my password?"},
            {"input": "My order arrived damaged. What can I do?"},
            name="reordered.jsonl",
        )
    )

    assert first[0].id == "7"  # integer ids become strings
    assert first[1].id == "my-order-arrived-damaged-what-can-i-do"
    assert first[2].id == "how-do-i-reset-my-password"
    assert {c.id for c in again} == {first[1].id, first[2].id}  # order does not matter


def test_a_long_prompt_keeps_its_first_words_and_alike_prompts_get_their_line(
    tmp_path: Path,
) -> None:
    long = "Please write a detailed, friendly reply to a customer whose parcel is lost"
    cases = load_dataset(
        _write(tmp_path, {"input": long}, {"input": long + " again"}, {"input": "?!"})
    )

    assert [c.id for c in cases[:2]] == [
        "please-write-a-detailed-friendly-reply",
        "please-write-a-detailed-friendly-reply-line2",
    ]
    assert len(cases[0].id) <= 40
    assert cases[2].id.startswith("case-") and len(cases[2].id) == 13  # no words: a hash


def test_the_reference_is_not_part_of_the_id(tmp_path: Path) -> None:
    one = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "A"}]}
    two = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "B"}]}

    (a,) = load_dataset(_write(tmp_path, one, name="a.jsonl"))
    (b,) = load_dataset(_write(tmp_path, two, name="b.jsonl"))

    assert a.id == b.id == stable_id((Message("user", "q"),)) == "q"


def test_stable_ids_do_not_depend_on_the_process() -> None:
    # Hard-coded: a cached answer and a baseline report find their case by this id, so
    # it must survive Python versions, hash seeds and key order.
    assert stable_id((Message("user", "Héllo, wörld!"),)) == "héllo-wörld"
    assert stable_id((Message("system", "…"),)) == "case-b90d4352"  # no words: a hash


# -- errors, each with path:line ---------------------------------------------------------------


def test_bad_json_names_path_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, {"input": "ok"}, "", '{"input": "missing quote}')

    error = _error(path)

    assert (error.path, error.line) == (path, 3)
    assert error.render().startswith(f"{path}:3:")
    assert "invalid JSON: Unterminated string" in error.message


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    cases = load_dataset(_write(tmp_path, {"input": "a"}, "", "   ", {"input": "b"}))

    assert [c.line for c in cases] == [1, 4]


def test_a_row_that_is_not_an_object(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, {"input": "a"}, "[1, 2]"))

    assert (error.line, error.message) == (2, "this line is a JSON array, not an object")


def test_an_unknown_first_row_lists_the_shapes(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, {"question": "a"}))

    assert (error.line, error.message) == (1, "cannot tell the row format")
    assert error.hint is not None and "preferred_output" in error.hint and '"prompt"' in error.hint


def test_a_row_of_another_shape_than_the_first(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, _preference("a"), {"input": "b"}))

    assert error.line == 2
    assert error.message == "row is not a preference row like the first row of this file"
    assert error.hint is not None and error.hint.startswith('expected {"input": {"messages"')


def test_duplicate_ids(tmp_path: Path) -> None:
    error = _error(
        _write(tmp_path, {"id": "x", "input": "a"}, {"input": "b"}, {"id": "x", "input": "c"})
    )

    assert error.line == 3
    assert error.message == "duplicate case id 'x' (first on line 1)"


def test_duplicate_prompts_without_ids_collide_too(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, {"input": "same"}, {"input": "same"}))

    assert error.line == 2 and error.message.startswith("duplicate case id")
    assert error.hint == "give each row a unique 'id'"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"input": "   "}, "expected 'input' or 'prompt' to be a non-empty string"),
        ({"input": "a", "id": [1]}, "id: expected a string or an integer"),
        ({"messages": "hi"}, "messages: expected a non-empty list of messages"),
        ({"messages": [{"content": "hi"}]}, "messages[0]: expected an object with 'role'"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "messages[0].role: unknown role 'bot'"),
    ],
)
def test_malformed_rows(tmp_path: Path, row: dict[str, Any], message: str) -> None:
    error = _error(_write(tmp_path, row))

    assert error.line == 1
    assert error.message.startswith(message)


def test_malformed_preference_output(tmp_path: Path) -> None:
    row = _preference("q")
    row["preferred_output"] = []

    error = _error(_write(tmp_path, row))

    assert error.message == "preferred_output: expected a non-empty list of messages"


def test_empty_missing_and_undecodable_files(tmp_path: Path) -> None:
    empty = _write(tmp_path, "")
    binary = tmp_path / "latin1.jsonl"
    binary.write_bytes('{"input": "caf\xe9"}\n'.encode("latin-1"))

    assert _error(empty).message == "data set is empty"
    assert _error(tmp_path / "nope.jsonl").message == "data set file not found"
    assert _error(binary).message.startswith("not UTF-8 text")


# -- JSON mistakes named in words ---------------------------------------------------------------


def test_a_trailing_comma_is_named_with_its_column(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, {"input": "a"}, '{"input": "b", "tags": ["x",]}'))

    assert (error.line, error.column) == (2, 28)  # the comma
    assert error.message == (
        "invalid JSON: trailing comma before ']' (JSON allows no comma after the last item)"
    )


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ('[\n  {"input": "a"},\n  {"input": "b"}\n]\n', "looks like a JSON array", "jq -c '.[]'"),
        ('[{"input": "a"}, {"input": "b"}]\n', "this line is a JSON array", "jq -c '.[]'"),
        ('{\n  "input": "a"\n}\n', "one JSON object over several lines", "jq -c ."),
    ],
)
def test_a_json_file_that_is_not_json_lines_says_so(
    tmp_path: Path, text: str, message: str, hint: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(text, encoding="utf-8")

    error = _error(path)

    assert error.line == 1 and message in error.message
    assert error.hint is not None and "one JSON object per line" in error.hint
    assert hint in error.hint


@pytest.mark.parametrize("text", ['[\n  {"input": "a"}\n]\n', '[{"input": "a"}]\n'])
def test_the_array_hint_never_redirects_a_file_onto_itself(tmp_path: Path, text: str) -> None:
    """`jq -c '.[]' data.jsonl > data.jsonl` would empty the file before jq reads it."""
    path = tmp_path / "data.jsonl"
    path.write_text(text, encoding="utf-8")

    hint = _error(path).hint

    assert hint is not None
    assert hint.endswith(
        "convert with: jq -c '.[]' data.jsonl > data.lines.jsonl && mv data.lines.jsonl data.jsonl"
    )


def test_the_array_hint_for_a_json_file_writes_its_jsonl_twin(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text('[{"input": "a"}]\n', encoding="utf-8")

    hint = _error(path).hint

    assert hint is not None and hint.endswith("convert with: jq -c '.[]' items.json > items.jsonl")


def test_multi_turn_rows_that_share_a_first_turn_get_distinct_ids(tmp_path: Path) -> None:
    later = "Now rewrite it so that every line rhymes with the one before, in"
    cases = load_dataset(
        _write(
            tmp_path,
            {"turns": ["Write a haiku about rain.", later + " English."]},
            {"turns": ["Write a haiku about rain.", later + " French."]},
        )
    )

    slug = "now-rewrite-it-so-that-every-line-rhymes"
    assert [c.id for c in cases] == [slug, f"{slug}-line2"]  # not a duplicate: other turns


# -- memory: a case holds no second copy of its row's text ---------------------------------


def test_cases_share_their_rows_strings_and_keys(tmp_path: Path) -> None:
    import gc
    import pickle

    rows = [{"id": f"c{i}", "input": f"question {i}", "extra": i} for i in range(3)]
    first, second, _ = load_dataset(_write(tmp_path, *rows))

    assert first.messages[0].content is first.item["input"]
    assert first.id is first.item["id"]
    key = next(iter(first.item))
    assert key is next(iter(second.item))  # one str per key name, not one per row
    assert not hasattr(first, "__dict__") and not hasattr(first.messages[0], "__dict__")
    assert pickle.loads(pickle.dumps(first)) == first
    assert gc.isenabled()  # the collector is paused while loading, not after


def test_chat_rows_share_one_string_per_role(tmp_path: Path) -> None:
    rows = [_preference("one"), _preference("two")]
    first, second = load_dataset(_write(tmp_path, *rows))

    assert (
        first.messages[1].role
        is second.messages[1].role
        is first.item["input"]["messages"][1]["role"]
    )
