"""Reading a verdict out of a judge's answer: structured JSON first, then what older servers
and base models write. Anything unreadable is an error, never a zero."""

from __future__ import annotations

import math

import pytest

from deltajudge.judging.parse import JudgeParseError, Parsed, as_score, parse_judge_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"reasoning": "warm and helpful", "score": 3}', Parsed(3, "warm and helpful")),
        ('  {"score": 2.5, "reasoning": "ok"}\n', Parsed(2.5, "ok")),
        ('{"score": 4}', Parsed(4, None)),
        ('```json\n{"reasoning": "fenced", "score": 1}\n```', Parsed(1, "fenced")),
        ('```\n{"reasoning": "bare fence", "score": 0}\n```', Parsed(0, "bare fence")),
        ('Sure! {"reasoning": "in prose", "score": 2} Hope that helps.', Parsed(2, "in prose")),
        (
            'First {"reasoning": "draft", "score": 1}, final {"reasoning": "final", "score": 3}',
            Parsed(3, "final"),
        ),
        ('{"verdict": {"reasoning": "nested", "score": 2}}', Parsed(2, "nested")),
        ('{"reasoning": "a number as text", "score": "3"}', Parsed("3", "a number as text")),
    ],
)
def test_json_answers(text: str, expected: Parsed) -> None:
    assert parse_judge_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("The reply is friendly.\nscore: 3", 3.0),
        ("Score = 2.5", 2.5),
        ("**Score**: 4", 4.0),
        ("score:1", 1.0),
        ("Initial score: 1. After thinking again, final score: 2", 2.0),
        ("SCORE - 0", 0.0),
        ("Score: 3/4", 3.0),
        ('{"reasoning": "no score key"} but score: 2', 2.0),
    ],
)
def test_plain_text_scores(text: str, score: float) -> None:
    parsed = parse_judge_answer(text)

    assert parsed.value == score
    assert parsed.reasoning == text.strip()  # the whole answer is the reasoning


@pytest.mark.parametrize(
    "text",
    [
        "I think it is good.",
        "",
        "It scored highly",  # "scored" is not "score:"
        '{"reasoning": "forgot the score"}',
        "score: high",
    ],
)
def test_answers_without_a_score_are_errors(text: str) -> None:
    with pytest.raises(JudgeParseError) as info:
        parse_judge_answer(text)

    assert str(info.value).startswith("judge gave no score (answer: ")


def test_the_error_shows_a_short_one_line_excerpt() -> None:
    text = "line one\nline two " + "x" * 500

    with pytest.raises(JudgeParseError) as info:
        parse_judge_answer(text)

    message = str(info.value)
    assert "line one line two" in message and "\n" not in message
    assert len(message) < 220


def test_labels_are_read_from_json_only() -> None:
    assert parse_judge_answer('{"reasoning": "r", "label": "yes"}', field="label") == Parsed(
        "yes", "r"
    )
    with pytest.raises(JudgeParseError, match="judge gave no label"):
        parse_judge_answer("label: yes", field="label")


@pytest.mark.parametrize(("value", "score"), [(0, 0.0), (4, 4.0), ("2.5", 2.5), (" 3 ", 3.0)])
def test_scores_inside_the_range(value: object, score: float) -> None:
    assert as_score(value, 0, 4) == score


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (4.5, "score 4.5 is outside the range [0, 4]"),
        (-1, "score -1 is outside the range [0, 4]"),
        (math.nan, "score nan is outside the range [0, 4]"),
        ("three", "score 'three' is not a number"),
        (None, "score None is not a number"),
        ([3], "score [3] is not a number"),
        # JSON true is not a score of 1, and false is not a score of 0.
        (True, "score True is not a number"),
        (False, "score False is not a number"),
    ],
)
def test_unusable_scores(value: object, message: str) -> None:
    with pytest.raises(JudgeParseError) as info:
        as_score(value, 0, 4)

    assert str(info.value) == message


@pytest.mark.parametrize(("text", "score"), [("3", 3.0), (" 2.5\n", 2.5), ("-1", -1.0)])
def test_a_bare_number_is_a_score(text: str, score: float) -> None:
    # What a completions-style judge writes after a prompt that ends in "Score:".
    assert parse_judge_answer(text) == Parsed(score, None)
