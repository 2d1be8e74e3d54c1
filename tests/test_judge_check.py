"""``deltajudge validate-judge``: a judge must agree with labelled pairs better than chance
and better than "pick the longer answer", or it is flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Project, judge_json, preference_pair, rubric_text
from deltajudge.cli import main
from deltajudge.stats.agreement import cohens_kappa, validate_judge
from deltajudge.testing import Reply, Rule

ROOT = Path(__file__).resolve().parents[1]


def _pairs(project: Project) -> Path:
    """20 pairs; in half of them the preferred answer is the shorter one."""
    rows = []
    for i in range(20):
        if i % 2:
            rows.append(preference_pair(i, "GOOD short", "BAD but a much LONGER answer"))
        else:
            rows.append(preference_pair(i, "GOOD and a much LONGER answer", "BAD short"))
    return project.write_rows(rows, "pairs")


def _run(project: Project, *extra: str) -> int:
    project.write(rubric_text(), None)
    pairs = _pairs(project)
    return main(
        [
            "validate-judge",
            str(project.path / "rubrics" / "demo.yaml"),
            "--pairs",
            str(pairs),
            *extra,
        ]
    )


def test_a_judge_that_reads_the_answers_passes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.server.set_rules(
        [
            Rule(judge=True, contains="Answer: GOOD", reply=judge_json(4)),
            Rule(judge=True, contains="Answer: BAD", reply=judge_json(1)),
        ]
    )
    assert _run(project) == 0
    out = capsys.readouterr().out
    assert "20 pairs, 0 not judged" in out
    assert "ok: the judge beats chance and the length heuristic" in out
    assert project.server.count() == 40  # both answers of every pair


def test_a_judge_that_likes_long_answers_is_flagged(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.server.set_rules(
        [
            Rule(judge=True, contains="LONGER", reply=judge_json(4)),
            Rule(judge=True, reply=judge_json(1)),
        ]
    )
    assert _run(project, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["flagged"] is True
    assert data["judge"]["agree"] == 10 and data["judge"]["disagree"] == 10
    assert data["judge_when_preferred_shorter"]["rate"] == 0.0
    assert data["length"]["rate"] == 0.5
    assert data["length"]["ci_low"] == pytest.approx(0.2993, abs=1e-3)  # Wilson, 10 of 20
    assert data["length"]["ci_high"] == pytest.approx(0.7007, abs=1e-3)
    assert any("picking the longer answer" in r for r in data["reasons"])
    assert any("more than chance" in r for r in data["reasons"])


def test_a_grader_that_would_see_the_preferred_answer_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    grader = rubric_text().replace(
        "Answer: {{ sample.output_text }}", "Answer: {{ sample.output_text }} Ref: {{ reference }}"
    )
    project.write(grader, [{"id": "a", "input": "q", "reference": "r"}])
    pairs = _pairs(project)
    code = main(
        ["validate-judge", str(project.path / "rubrics" / "demo.yaml"), "--pairs", str(pairs)]
    )
    assert code == 2
    assert "must not show it the preferred answer" in capsys.readouterr().err
    assert project.server.count() == 0


def test_when_every_preferred_answer_is_longer_length_bias_cannot_be_ruled_out() -> None:
    """The bundled Good Vibes test pairs, with a judge that always agrees."""
    rows = [
        json.loads(line)
        for line in (ROOT / "fixtures" / "good_vibes" / "test.jsonl").read_text().splitlines()
    ]
    good = [len(r["preferred_output"][0]["content"]) for r in rows]
    bad = [len(r["non_preferred_output"][0]["content"]) for r in rows]
    result = validate_judge([1] * len(rows), good, bad)
    assert result.judge.rate == 1.0 and result.length.rate == 1.0
    assert result.p_vs_length is None
    assert result.flagged
    assert "no pair has a shorter preferred answer: a length bias cannot be ruled out" in (
        result.reasons
    )


def test_a_judge_that_judged_no_pair_is_flagged_for_that_alone() -> None:
    """Every pair failed (a dead endpoint, replies that never parse): one reason saying so,
    not three that blame the judge for agreement it never had the chance to show."""
    result = validate_judge([None, None, None], [10, 20, 30], [5, 40, 15])
    assert result.flagged and result.errors == 3
    assert result.reasons == ["no pair was judged (3 could not be: see their errors)"]


def test_the_bundled_judge_pairs_tell_a_judge_from_the_length_heuristic() -> None:
    rows = [
        json.loads(line)
        for line in (ROOT / "fixtures" / "good_vibes" / "judge_pairs.jsonl")
        .read_text()
        .splitlines()
    ]
    good = [len(r["preferred_output"][0]["content"]) for r in rows]
    bad = [len(r["non_preferred_output"][0]["content"]) for r in rows]
    assert sum(g < b for g, b in zip(good, bad, strict=True)) == 8
    length_judge = [1 if g > b else -1 for g, b in zip(good, bad, strict=True)]
    assert validate_judge(length_judge, good, bad).flagged
    assert not validate_judge([1] * len(rows), good, bad).flagged  # a judge right every time


def test_cohens_kappa_matches_the_textbook_table() -> None:
    # 2x2 table [[20, 5], [10, 15]]: observed 0.7, expected 0.5, kappa 0.4
    first = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    second = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohens_kappa(first, second) == pytest.approx(0.4)
    assert cohens_kappa([1, 1], [1, 1]) is None


def test_a_persons_labels_give_cohens_kappa(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.server.set_rules(
        [
            Rule(judge=True, contains="LONGER", reply=judge_json(4)),
            Rule(judge=True, reply=judge_json(1)),
        ]
    )
    # the person agrees with this length-loving judge: preferred when it is the longer one
    labels = project.path / "labels.csv"
    labels.write_text(
        "case,label\n"
        + "".join(f"p{i},{'non_preferred' if i % 2 else 'preferred'}\n" for i in range(20))
    )
    assert _run(project, "--labels", str(labels)) == 1  # still flagged against length
    assert "Cohen's kappa = 1.00 on 20 pairs" in capsys.readouterr().out
    labels.write_text("case,label\np0,better\n")
    assert _run(project, "--labels", str(labels)) == 2
    assert f"{labels}:2: label 'better': expected one of preferred" in capsys.readouterr().err


PAIRWISE = """\
  - name: which
    type: pairwise
    model: judge
    input:
      - role: user
        content: "{{ prompt }}: which is better? A: {{ answer_a }} B: {{ answer_b }}"
"""


def _verdict(letter: str) -> Reply:
    return Reply(json={"reasoning": "tone", "verdict": letter})


def test_a_pairwise_grader_judges_each_pair_in_both_orders(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.server.set_rules(
        [
            Rule(judge=True, contains="A: GOOD", reply=_verdict("A")),
            Rule(judge=True, contains="B: GOOD", reply=_verdict("B")),
        ]
    )
    project.write(rubric_text(graders=PAIRWISE), None)
    pairs = _pairs(project)
    code = main(
        [
            "validate-judge",
            str(project.path / "rubrics" / "demo.yaml"),
            "--pairs",
            str(pairs),
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["reasons"]
    assert data["judge"]["agree"] == 20
    assert project.server.count() == 40  # every pair twice, the answers swapped
    shown_first = [r.text for r in project.requests(judge=True) if "A: GOOD" in r.text]
    assert len(shown_first) == 20
