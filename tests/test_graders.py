"""Every grader type end to end, through pytester and the scripted server: Python graders
(inline and imported), text similarity against a data set's reference, multi graders
with a formula, and score_model's ``samples: k`` and ``scoring: logprobs``.

Expected similarity scores are computed in the test with the same maintained libraries
the graders use (rapidfuzz, sacrebleu, rouge-score) and the server's own embeddings.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conftest import (
    CHAT,
    PROMPTS,
    Project,
    item_outcomes,
    item_reports,
    judge_json,
    prompt_rows,
    rubric_text,
)
from deltajudge.testing import Reply, Rule, embed


def _case(rubric: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in rubric["cases"] if c["id"] == case_id)


def _scores(rubric: dict[str, Any], alias: str, grader: str) -> dict[str, float | None]:
    return {c["id"]: c["samples"][alias]["scores"][grader] for c in rubric["cases"]}


def _python_grader(name: str, source: str) -> str:
    body = textwrap.indent(textwrap.dedent(source).strip("\n"), " " * 6)
    return f"  - name: {name}\n    type: python\n    source: |\n{body}\n"


# -- python graders ---------------------------------------------------------------------------

#: The score is the case number (from the row's id), plus a half for the candidate.
PLAIN_SOURCE = """
def grade(sample, item):
    bonus = 0.5 if sample["model"] == "cand" else 0.0
    return float(item["id"][-1]) + bonus
"""
EXPLAINED_SOURCE = """
def grade(sample, item):
    words = len(sample["output_text"].split())
    return {"score": words, "reasoning": f"{words} words in {sample['output_text']!r}"}
"""
AWAITED_SOURCE = """
async def grade(sample, item):
    return {"score": 1.0 if sample["model"] == "base" else 4.0, "reasoning": "awaited"}
"""
GRADER_MODULE = """
def by_length(sample, item):
    return len(sample["output_text"])
"""


def test_python_graders_inline_and_imported_score_each_answer(project: Project) -> None:
    # A conftest.py at the root puts the root on sys.path, so `mygraders` imports.
    project.pytester.makeconftest("")
    project.pytester.makepyfile(mygraders=GRADER_MODULE)
    graders = (
        _python_grader("plain", PLAIN_SOURCE)
        + _python_grader("explained", EXPLAINED_SOURCE)
        + _python_grader("awaited", AWAITED_SOURCE)
        + "  - name: imported\n    type: python\n    function: mygraders:by_length\n"
    )
    project.write(rubric_text(graders=graders))

    project.run().assert_outcomes(passed=3)

    rubric = project.rubric_report()
    assert _scores(rubric, "base", "plain") == {"case-1": 1.0, "case-2": 2.0, "case-3": 3.0}
    assert _scores(rubric, "cand", "plain") == {"case-1": 1.5, "case-2": 2.5, "case-3": 3.5}
    # "[cand-m] question three" is three words; "[base-m] question one" is 21 characters.
    case_3 = _case(rubric, "case-3")["samples"]["cand"]
    assert case_3["scores"]["explained"] == 3.0
    assert case_3["reasoning"]["explained"] == "3 words in '[cand-m] question three'"
    assert set(_scores(rubric, "cand", "awaited").values()) == {4.0}
    assert case_3["reasoning"]["awaited"] == "awaited"
    assert _scores(rubric, "base", "imported") == {
        case_id: float(len(f"[base-m] {prompt}")) for case_id, prompt in PROMPTS.items()
    }
    assert rubric["comparisons"][0]["grader"] == "plain"
    assert rubric["comparisons"][0]["mean_delta"] == 0.5
    assert project.requests(judge=True) == []  # no judge: only the 6 generations
    assert len(project.server.requests) == 6


RAISING_SOURCE = """
def grade(sample, item):
    if item["id"] == "case-2":
        return 1 / 0
    return 2.0
"""


def test_a_python_grader_that_raises_fails_its_case_with_the_traceback(project: Project) -> None:
    project.write(rubric_text(graders=_python_grader("checker", RAISING_SOURCE)))

    result = project.run()

    assert item_outcomes(result) == {"case-1": "passed", "case-2": "failed", "case-3": "passed"}
    failure = item_reports(result)["case-2"].longreprtext
    assert "base/checker: python grader raised:" in failure
    assert "ZeroDivisionError: division by zero" in failure
    case = _case(project.rubric_report(), "case-2")
    for alias in ("base", "cand"):
        sample = case["samples"][alias]
        assert sample["scores"] == {"checker": None}
        error = sample["grade_errors"]["checker"]
        assert error.startswith("python grader raised:\nTraceback (most recent call last):")
        assert 'File "<grader checker>", line 3, in grade' in error
        assert error.rstrip().endswith("ZeroDivisionError: division by zero")
    figures = project.rubric_report()["models"]["cand"]["graders"]["checker"]
    assert (figures["n"], figures["errors"], figures["mean"]) == (2, 1, 2.0)


BROKEN_CODE: dict[str, tuple[str, list[str]]] = {
    "source-syntax-error": (
        _python_grader("broken", "def grade(sample, item)\n    return 1\n"),
        ["*rubrics/demo.yaml:5:*: graders[[]0[]].source: line 1: expected ':'"],
    ),
    "source-without-grade": (
        _python_grader("broken", "def score(sample, item):\n    return 1\n"),
        ["*rubrics/demo.yaml:5:*: graders[[]0[]].source: must define a function grade*"],
    ),
    "function-unimportable": (
        "  - name: broken\n    type: python\n    function: no_such_module_xyz:grade\n",
        [
            "*rubrics/demo.yaml:5:*: graders[[]0[]].function: cannot import "
            "'no_such_module_xyz' (No module named 'no_such_module_xyz')"
        ],
    ),
    "function-missing": (
        "  - name: broken\n    type: python\n    function: json:no_such_function\n",
        [
            "*rubrics/demo.yaml:5:*: graders[[]0[]].function: 'json' has no function "
            "'no_such_function'"
        ],
    ),
    "formula-unknown-name": (
        "  - name: combined\n    type: multi\n    calculate_output: 0.5 * a + c\n"
        "    graders:\n      a: {name: a, type: string_check, reference: x, operation: like}\n",
        [
            "*rubrics/demo.yaml:7:*: graders[[]0[]].calculate_output: unknown name 'c' "
            "(graders: [[]'a'[]])"
        ],
    ),
    "formula-not-arithmetic": (
        "  - name: combined\n    type: multi\n    calculate_output: a.__class__\n"
        "    graders:\n      a: {name: a, type: string_check, reference: x, operation: like}\n",
        ["*rubrics/demo.yaml:7:*: graders[[]0[]].calculate_output: Attribute is not allowed"],
    ),
}


@pytest.mark.parametrize("mistake", list(BROKEN_CODE))
def test_grader_code_that_cannot_run_fails_collection_before_any_call(
    project: Project, mistake: str
) -> None:
    graders, expected = BROKEN_CODE[mistake]
    project.server.set_rules([Rule(judge=True, reply=judge_json(1))])
    project.write(rubric_text(graders=graders))

    result = project.run()

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting rubrics/demo.yaml*", *expected])
    assert "Traceback" not in result.stdout.str()
    assert project.server.requests == []
    assert not (project.path / "reports").exists()


# -- text similarity --------------------------------------------------------------------------

REFERENCE = "Thanks so much for reaching out, we will refund the double charge today."
PARTIAL = "Thanks for reaching out, the double charge will be refunded this week."


def _fuzzy(answer: str, reference: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(answer, reference)) / 100


def _bleu(answer: str, reference: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_bleu(answer, [reference]).score) / 100


def _rouge(kind: str) -> Callable[[str, str], float]:
    def score(answer: str, reference: str) -> float:
        from rouge_score import rouge_scorer

        return float(rouge_scorer.RougeScorer([kind]).score(reference, answer)[kind].fmeasure)

    return score


SIMILARITY: dict[str, Callable[[str, str], float]] = {
    "fuzzy_match": _fuzzy,
    "bleu": _bleu,
    "rouge_1": _rouge("rouge1"),
    "rouge_l": _rouge("rougeL"),
}


def _preference_row(case_id: str, question: str, preferred: str) -> dict[str, Any]:
    return {
        "id": case_id,
        "input": {"messages": [{"role": "user", "content": question}]},
        "preferred_output": [{"role": "assistant", "content": preferred}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }


def _similarity_project(project: Project, grader: str) -> None:
    """base repeats the preferred answer word for word; cand paraphrases part of it."""
    project.server.set_rules(
        [
            Rule(model="base-m", reply=Reply(text=REFERENCE)),
            Rule(model="cand-m", reply=Reply(text=PARTIAL)),
        ]
    )
    rows = [_preference_row("refund", "I was charged twice.", REFERENCE)]
    project.write(rubric_text(graders=grader), rows)


def test_text_similarity_against_the_preferred_answer(project: Project) -> None:
    graders = "".join(
        f"  - name: {metric}\n    type: text_similarity\n    evaluation_metric: {metric}\n"
        for metric in SIMILARITY
    )
    _similarity_project(project, graders)

    project.run().assert_outcomes(passed=1)

    case = _case(project.rubric_report(), "refund")
    assert case["reference"] == REFERENCE
    cand = case["samples"]["cand"]
    for metric, measure in SIMILARITY.items():
        expected = measure(PARTIAL, REFERENCE)
        assert 0 < expected < 1, metric
        assert cand["scores"][metric] == pytest.approx(expected, abs=1e-12), metric
        assert cand["reasoning"][metric] == f"{metric} = {expected:.3f}"
    assert project.requests(judge=True) == []
    # base answered with the reference word for word: every metric says exactly 1, the
    # top of its documented 0-1 range.
    assert case["samples"]["base"]["scores"] == dict.fromkeys(SIMILARITY, 1.0)


def test_cosine_similarity_uses_the_aliases_embeddings_endpoint(project: Project) -> None:
    grader = (
        "  - name: similar\n    type: text_similarity\n    evaluation_metric: cosine\n"
        "    model: judge\n    pass_threshold: 0.99\n"
    )
    _similarity_project(project, grader)

    project.run().assert_outcomes(passed=1)

    embeddings = [r for r in project.server.requests if r.endpoint == "/v1/embeddings"]
    assert len(embeddings) == 2  # one call per answer: [answer, reference]
    assert {r.model for r in embeddings} == {"judge-m"}
    assert sorted(tuple(r.body["input"]) for r in embeddings) == sorted(
        [(REFERENCE, REFERENCE), (PARTIAL, REFERENCE)]
    )
    samples = _case(project.rubric_report(), "refund")["samples"]
    assert samples["base"]["scores"]["similar"] == pytest.approx(1.0, abs=1e-9)
    assert samples["base"]["passed"]["similar"] is True
    a, b = np.asarray(embed(PARTIAL)), np.asarray(embed(REFERENCE))
    expected = float(a @ b)  # unit vectors
    assert 0 < expected < 1
    assert samples["cand"]["scores"]["similar"] == pytest.approx(expected, abs=1e-6)
    assert samples["cand"]["passed"]["similar"] is False


# -- multi ------------------------------------------------------------------------------------

MULTI = """\
  - name: combined
    type: multi
    calculate_output: "0.5 * size + 3 * tagged"
    pass_threshold: 4
    graders:
      size:
        name: size
        type: python
        source: |
          def grade(sample, item):
              return 4.0 if sample["model"] == "cand" else 2.0
      tagged:
        name: tagged
        type: string_check
        input: "{{ sample.output_text }}"
        reference: "[cand-m]"
        operation: like
"""


def test_multi_grader_combines_its_graders_with_the_formula(project: Project) -> None:
    project.write(rubric_text(graders=MULTI))

    project.run().assert_outcomes(passed=3)

    rubric = project.rubric_report()
    # base: 0.5 * 2 + 3 * 0 = 1; cand: 0.5 * 4 + 3 * 1 = 5
    assert set(_scores(rubric, "base", "combined").values()) == {1.0}
    assert set(_scores(rubric, "cand", "combined").values()) == {5.0}
    sample = _case(rubric, "case-1")["samples"]
    assert sample["cand"]["reasoning"]["combined"] == "size=4, tagged=1"
    assert (sample["base"]["passed"]["combined"], sample["cand"]["passed"]["combined"]) == (
        False,
        True,
    )
    assert rubric["comparisons"][0]["mean_delta"] == 4.0
    assert rubric["models"]["cand"]["graders"]["combined"]["pass_rate"] == 1.0


# -- score_model: samples and logprobs --------------------------------------------------------

SAMPLED = {  # answer marker -> the three scores the judge gives it, one request each
    "[base-m] question one": (1, 2, 4),
    "[base-m] question two": (0, 0, 1),
    "[base-m] question three": (2, 2, 2),
    "[cand-m] question one": (3, 4, 4),
    "[cand-m] question two": (1, 3, 4),
    "[cand-m] question three": (0, 4, 4),
}


def test_score_model_samples_asks_k_times_and_reports_the_mean(project: Project) -> None:
    rules = [
        Rule(judge=True, contains=marker, reply=Reply(json={"reasoning": "r", "score": s}, times=1))
        for marker, scores in SAMPLED.items()
        for s in scores
    ]
    project.server.set_rules(rules)
    grader = (
        "  - name: quality\n    type: score_model\n    model: judge\n    range: [0, 4]\n"
        "    samples: 3\n    input:\n      - role: user\n"
        '        content: "Answer: {{ sample.output_text }}"\n'
    )
    project.write(rubric_text(graders=grader))

    project.run().assert_outcomes(passed=3)

    judged = project.requests(judge=True)
    assert len(judged) == 18  # 3 cases x 2 models x 3 samples
    for marker in SAMPLED:
        assert sum(marker in r.text for r in judged) == 3
    rubric = project.rubric_report()
    for case_id, prompt in PROMPTS.items():
        for alias in ("base", "cand"):
            got = _case(rubric, case_id)["samples"][alias]["scores"]["quality"]
            assert got == pytest.approx(sum(SAMPLED[f"[{alias}-m] {prompt}"]) / 3, abs=1e-12)
    # base means 7/3, 1/3, 2: their mean is 14/9; cand: 11/3, 8/3, 8/3 -> 9/3 = 3
    assert rubric["models"]["base"]["graders"]["quality"]["mean"] == pytest.approx(14 / 9)
    assert rubric["models"]["cand"]["graders"]["quality"]["mean"] == pytest.approx(3.0)


LOGPROB_GRADER = """\
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    scoring: logprobs
    input:
      - role: user
        content: "Answer: {{ sample.output_text }}"
"""


def test_logprobs_scoring_weights_the_score_tokens(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(
                model="judge-m",
                contains="[base-m]",
                reply=Reply(text="3", logprobs=[{"2": 0.25, "3": 0.5, "4": 0.25}]),
            ),
            # "x" and "9" (outside the range) are not score tokens: the weights of 2 and 4
            # are renormalised, (2 * 0.4 + 4 * 0.2) / 0.6 = 8/3.
            Rule(
                model="judge-m",
                contains="[cand-m]",
                reply=Reply(text="2", logprobs=[{"2": 0.4, "x": 0.3, "4": 0.2, "9": 0.1}]),
            ),
        ]
    )
    project.write(rubric_text(graders=LOGPROB_GRADER))

    project.run().assert_outcomes(passed=3)

    judged = [r for r in project.server.requests if r.model == "judge-m"]
    assert len(judged) == 6
    for request in judged:
        assert request.body["logprobs"] is True
        assert request.body["top_logprobs"] == 20
        assert "response_format" not in request.body
    rubric = project.rubric_report()
    base, cand = _scores(rubric, "base", "quality"), _scores(rubric, "cand", "quality")
    assert list(base.values()) == pytest.approx([3.0] * 3, abs=1e-12)
    assert list(cand.values()) == pytest.approx([8 / 3] * 3, abs=1e-12)
    reasoning = _case(rubric, "case-1")["samples"]["cand"]["reasoning"]["quality"]
    assert reasoning == "probability-weighted score from the judge's answer '2'"


def test_logprobs_scoring_reads_the_first_position_that_holds_a_score(project: Project) -> None:
    steps = [{"Score": 0.9, "The": 0.1}, {":": 1.0}, {"1": 0.5, "4": 0.5}, {"0": 1.0}]
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text="Score: 10", logprobs=steps))])
    project.write(rubric_text(graders=LOGPROB_GRADER), prompt_rows({"only": "question"}))

    project.run().assert_outcomes(passed=1)

    samples = _case(project.rubric_report(), "only")["samples"]
    assert samples["base"]["scores"]["quality"] == pytest.approx(2.5, abs=1e-12)


def test_logprobs_scoring_ignores_tokens_that_are_not_plain_digits(project: Project) -> None:
    # Real top-20 lists hold look-alikes: "²" passes str.isdigit() but is no score.
    # Only 3 and 4 count: (3 * 0.6 + 4 * 0.3) / 0.9 = 10/3.
    steps = [{"3": 0.6, "4": 0.3, "²": 0.1}]
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text="3", logprobs=steps))])
    project.write(rubric_text(graders=LOGPROB_GRADER), prompt_rows({"only": "question"}))

    result = project.run()

    samples = _case(project.rubric_report(), "only")["samples"]
    assert samples["cand"]["grade_errors"] == {}
    assert samples["cand"]["scores"]["quality"] == pytest.approx(10 / 3, abs=1e-12)
    result.assert_outcomes(passed=1)


def test_logprobs_scoring_without_logprobs_is_a_grading_error(project: Project) -> None:
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text="3"))])
    project.write(rubric_text(graders=LOGPROB_GRADER), prompt_rows({"only": "question"}))

    result = project.run()

    result.assert_outcomes(failed=1)
    assert "the endpoint returned no logprobs" in item_reports(result)["only"].longreprtext
    sample = _case(project.rubric_report(), "only")["samples"]["cand"]
    assert sample["scores"] == {"quality": None}
    error = sample["grade_errors"]["quality"]
    assert error.startswith("no usable verdict: scoring: logprobs, but the endpoint")
    assert "returned no logprobs" in error and "scoring: json" in error
    # Asking again cannot make the endpoint return logprobs: one call per answer.
    assert project.server.count(path=CHAT, model="judge-m") == 2


def _reject(constant: str) -> None:
    raise AssertionError(f"report.json holds {constant}, which strict JSON readers reject")


def test_a_python_grader_returning_nan_is_an_error_not_a_score(project: Project) -> None:
    source = "def grade(sample, item):\n    return float('nan')\n"
    project.write(rubric_text(graders=_python_grader("nan", source)), prompt_rows({"x": "q"}))

    result = project.run()

    result.assert_outcomes(failed=1)
    sample = _case(project.rubric_report(), "x")["samples"]["base"]
    assert sample["scores"] == {"nan": None}
    assert sample["grade_errors"] == {"nan": "python grader returned NaN"}
    raw = (project.path / "reports" / "latest" / "report.json").read_text(encoding="utf-8")
    json.loads(raw, parse_constant=_reject)  # strict JSON: no NaN written anywhere
