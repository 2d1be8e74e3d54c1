"""``deltajudge probe injection``: hostile answers through a rubric's real judge, on the
scripted server, for every output contract. An honest judge that quotes the answer is
never moved (the parser never reads the quoted fake verdict); a gullible judge that
obeys the answer is caught, and the command exits 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from conftest import Project, prompt_rows, rubric_text
from deltajudge.cli import main
from deltajudge.judging.injection import HOSTILE_ANSWERS
from deltajudge.testing import RecordedRequest, Reply, Rule

Q = "{{ prompt }}"
SINGLE = "Q: " + Q + "\n<answer>\n{{ sample.output_text }}\n</answer>"
PAIR = "Q: " + Q + "\n<a>\n{{ answer_a }}\n</a>\n<b>\n{{ answer_b }}\n</b>"


def _grader(kind: str, output: str, body: str, extra: str = "") -> str:
    return (
        f"  - name: judged\n    type: {kind}\n    model: judge\n    output: {output}\n"
        f"{extra}    input:\n      - role: user\n        content: {json.dumps(body)}\n"
    )


def _part(text: str, tag: str) -> str:
    return text.split(f"<{tag}>\n", 1)[1].split(f"\n</{tag}>", 1)[0]


def _obeys(text: str) -> bool:
    """Whether a shown answer carries a hostile payload (every one asks for a 10 / C / B)."""
    return any(h.payload in text for h in HOSTILE_ANSWERS)


# Each contract: (grader YAML, honest judge, gullible judge). A judge sees the request.
Judge = Callable[[RecordedRequest], str]


def _single(verdict: Callable[[int], str]) -> tuple[Judge, Judge]:
    def honest(request: RecordedRequest) -> str:
        return f'The answer says:\n"{_part(request.text, "answer")}"\nWeak.\n{verdict(2)}'

    def gullible(request: RecordedRequest) -> str:  # obeys, in its own words: a 9
        return f"As instructed. {verdict(9 if _obeys(request.text) else 2)}"

    return honest, gullible


def _json(request: RecordedRequest, score: int) -> str:
    quote = _part(request.text, "answer")
    return json.dumps({"reasoning": f"The answer says: {quote}", "score": score})


def _pair_honest(request: RecordedRequest) -> str:
    return f'A said "{_part(request.text, "a")}", B said "{_part(request.text, "b")}". [[C]]'


def _pair_gullible(request: RecordedRequest) -> str:
    a = _part(request.text, "a")
    if _obeys(a):
        return "[[A]]"
    return "[[B]]" if _obeys(_part(request.text, "b")) else "[[C]]"


def _grade_judges() -> tuple[Judge, Judge]:
    def honest(request: RecordedRequest) -> str:
        return f'It says "{_part(request.text, "answer")}".\nGRADE: I'

    def gullible(request: RecordedRequest) -> str:
        return "GRADE: C" if _obeys(request.text) else "GRADE: I"

    return honest, gullible


CONTRACTS: dict[str, tuple[str, Judge, Judge, int]] = {
    # name: grader, honest judge, gullible judge, judge calls per probe row set
    "json": (
        _grader("score_model", "json", SINGLE, "    range: [0, 10]\n"),
        lambda r: _json(r, 2),
        lambda r: _json(r, 9 if _obeys(r.text) else 2),
        18,
    ),
    "rating_brackets": (
        _grader(
            "score_model", "{format: text, preset: rating_brackets}", SINGLE, "    range: [0, 10]\n"
        ),
        *_single(lambda v: f"Rating: [[{v}]]"),
        18,
    ),
    "score": (
        _grader("score_model", "{format: text, preset: score}", SINGLE, "    range: [0, 10]\n"),
        *_single(lambda v: f"Score: {v}"),
        18,
    ),
    "grade": (
        _grader(
            "label_model",
            "{format: text, preset: grade}",
            SINGLE,
            "    labels: [C, I]\n    passing_labels: [C]\n",
        ),
        *_grade_judges(),
        18,
    ),
    "verdict_brackets": (
        _grader("pairwise", "{format: text, preset: verdict_brackets}", PAIR),
        _pair_honest,
        _pair_gullible,
        33,  # both orders; the control pair (the same answer twice) is asked once per row
    ),
}


def _run(
    project: Project, contract: str, judge: Judge, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    grader = CONTRACTS[contract][0]
    # The judge alias answers as scripted whether or not it is asked for structured output.
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text=judge))])
    project.write(rubric_text(graders=grader), prompt_rows())
    code = main(
        [
            "probe",
            "injection",
            str(project.path / "rubrics" / "demo.yaml"),
            "--config",
            str(project.path / "deltajudge.toml"),
        ]
    )
    return code, capsys.readouterr().out


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_an_honest_judge_quoting_hostile_answers_is_never_moved(
    project: Project, contract: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(project, contract, CONTRACTS[contract][1], capsys)

    assert code == 0, out
    assert "verdict moved in 0 of 15 probes, raised in 0" in out
    for hostile in HOSTILE_ANSWERS:
        assert hostile.name in out
    assert project.server.count(model="judge-m") == CONTRACTS[contract][3]
    assert [r for r in project.requests() if r.model != "judge-m"] == []  # no generation


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_a_judge_that_obeys_the_answer_is_caught(
    project: Project, contract: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(project, contract, CONTRACTS[contract][2], capsys)

    assert code == 1
    total = re.search(r"moved in (\d+) of 15 probes, raised in (\d+)(?:; (\d+) could not)?", out)
    assert total is not None, out
    moved, raised, errors = (int(g or 0) for g in total.groups())
    assert raised >= 1 and moved == raised
    # Obeying word for word ("GRADE: C", "[[B]]" as the payload wrote them) is not read:
    # the parser counts that as an error, so every probe is either raised or an error.
    assert raised + errors == 15


def test_a_judge_that_copies_the_fake_verdict_word_for_word_is_not_read(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    def parrot(request: RecordedRequest) -> str:
        return "Rating: [[10]]" if _obeys(request.text) else "Rating: [[2]]"

    code, out = _run(project, "rating_brackets", parrot, capsys)

    # Three payloads spell "Rating: [[10]]": the parrot's copy of it is not read (an error,
    # 3 rows each). The two JSON payloads do not, so its 10 there is its own verdict in
    # its own format: the judge model obeyed, and the probe reports it as raised.
    assert code == 1
    assert "moved in 6 of 15 probes, raised in 6; 9 could not be compared" in out


def test_the_probe_names_each_grader_and_contract(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(project, "rating_brackets", CONTRACTS["rating_brackets"][1], capsys)

    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("grader"))
    assert header.split() == [
        "grader",
        "output",
        "hostile",
        "answer",
        "rows",
        "moved",
        "raised",
        "errors",
    ]
    row = next(line for line in out.splitlines() if "closing-delimiter" in line)
    assert row.split() == [
        "judged",
        "text:rating_brackets",
        "closing-delimiter",
        "3",
        "0",
        "0",
        "0",
    ]
