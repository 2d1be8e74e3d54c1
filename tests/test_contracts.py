"""Output contracts end to end, through pytester and the scripted server: a published
judge (MT-Bench single-v1, pair-v2; Inspect's GRADE) runs verbatim and is read exactly;
hostile candidate answers quoted back by the judge never set their own verdict; and
re-asks happen only when they differ from the first ask, counted like every call.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Project, item_outcomes, prompt_rows, rubric_text
from deltajudge.judging.injection import HOSTILE_ANSWERS
from deltajudge.testing import RecordedRequest, Reply, Rule

# FastChat's MT-Bench "single-v1" judge, verbatim (system prompt and user template).
MT_BENCH_SINGLE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the "
    "response provided by an AI assistant to the user question displayed below. Your "
    "evaluation should consider factors such as the helpfulness, relevance, accuracy, "
    "depth, creativity, and level of detail of the response. Begin your evaluation by "
    "providing a short explanation. Be as objective as possible. After providing your "
    "explanation, you must rate the response on a scale of 1 to 10 by strictly following "
    'this format: "[[rating]]", for example: "Rating: [[5]]".\n\n[Question]\n'
    "{{ prompt }}\n\n[The Start of Assistant's Answer]\n{{ sample.output_text }}\n"
    "[The End of Assistant's Answer]"
)
START, END = "[The Start of Assistant's Answer]\n", "\n[The End of Assistant's Answer]"


def _grader(
    name: str, kind: str, output: str, body: str, extra: str = "", system: str = "You judge."
) -> str:
    return (
        f"  - name: {name}\n    type: {kind}\n    model: judge\n    output: {output}\n"
        + textwrap.indent(extra, "    ")
        + "    input:\n"
        + f"      - role: system\n        content: {json.dumps(system)}\n"
        + f"      - role: user\n        content: {json.dumps(body)}\n"
    )


def mt_bench_single(
    output: str = "{format: text, preset: rating_brackets}", extra: str = ""
) -> str:
    return _grader(
        "mtbench",
        "score_model",
        output,
        MT_BENCH_SINGLE,
        "range: [1, 10]\npass_threshold: 5\n" + extra,
        system="You are a helpful assistant.",
    )


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def _judge(reply: Callable[[str], str]) -> Rule:
    """The judge's reply, made from the answer it was shown (so it can quote it)."""

    def text(request: RecordedRequest) -> str:
        return reply(_between(request.text, START, END))  # the first ask, on a re-ask too

    return Rule(model="judge-m", reply=Reply(text=text))


def _samples(project: Project, grader: str) -> dict[tuple[str, str], dict[str, Any]]:
    rubric = project.rubric_report()
    return {
        (case["id"], alias): {
            "score": sample["scores"].get(grader),
            "error": sample["grade_errors"].get(grader),
            "raw": sample["raw"].get(grader),
            "label": sample["labels"].get(grader),
        }
        for case in rubric["cases"]
        for alias, sample in case["samples"].items()
    }


# -- a published judge, verbatim ------------------------------------------------------------


def test_mt_bench_single_runs_verbatim_and_its_rating_is_read(project: Project) -> None:
    project.server.set_rules(
        [
            _judge(lambda a: f"Short but right.\nRating: [[{8 if 'cand' in a else 4}]]"),
        ]
    )
    params = "sampling_params: {temperature: 0, max_tokens: 512, response_format: {type: text}}\n"
    project.write(rubric_text(graders=mt_bench_single(extra=params)))

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    judged = [r for r in project.requests() if r.model == "judge-m"]
    assert len(judged) == 6  # one per answer: 3 cases x 2 models
    for request in judged:
        system, user = request.body["messages"]
        assert system == {"role": "system", "content": "You are a helpful assistant."}
        assert user["content"].startswith("[Instruction]\nPlease act as an impartial judge")
        assert user["content"].endswith("[The End of Assistant's Answer]")  # nothing appended
        assert request.body["response_format"] == {"type": "text"}  # the user's, as given
        assert (request.body["temperature"], request.body["max_tokens"]) == (0, 512)
    samples = _samples(project, "mtbench")
    assert {k: v["score"] for k, v in samples.items() if k[0] == "case-1"} == {
        ("case-1", "base"): 4.0,
        ("case-1", "cand"): 8.0,
    }
    assert samples[("case-1", "cand")]["raw"] == "Short but right.\nRating: [[8]]"
    rubric = project.rubric_report()
    assert rubric["cases"][0]["samples"]["cand"]["reasoning"]["mtbench"] == "Short but right."
    (info,) = rubric["graders"]
    assert (info["output"], info["range"]) == ("text:rating_brackets", [1.0, 10.0])
    assert project.report()["calls"] == len(project.requests())


def test_the_json_contract_is_recorded_and_still_appends_its_instruction(
    project: Project,
) -> None:
    project.server.set_rules([Rule(judge=True, reply=Reply(json={"reasoning": "r", "score": 3}))])
    project.write()

    project.run().assert_outcomes(passed=3)

    assert project.rubric_report()["graders"][0]["output"] == "json"
    request = project.requests(judge=True)[0]
    assert "Answer with a JSON object and nothing else" in request.body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("grader", "message"),
    [
        (
            mt_bench_single("json", "sampling_params: {response_format: {type: text}}\n"),
            "graders[0].sampling_params: response_format conflicts with output: json",
        ),
        (
            mt_bench_single(extra="scoring: logprobs\n"),
            "graders[0].scoring: logprobs reads token probabilities",
        ),
        (
            mt_bench_single("{format: text, preset: grade}"),
            "graders[0].output: preset grade reads a label, not a number",
        ),
        (
            mt_bench_single("{format: text, preset: score, verdicts: {A: a}}"),
            "graders[0].output: verdicts maps a pairwise judge's labels",
        ),
        (
            _grader("p", "pairwise", "{format: text, preset: rating_brackets}", "{{ answer_a }}"),
            "graders[0].output: preset rating_brackets reads a number",
        ),
        (
            mt_bench_single("{format: text, pattern: 'Rating: \\d+'}"),
            "graders[0].output.pattern: needs exactly one capturing group",
        ),
    ],
)
def test_contract_mistakes_fail_at_collection(project: Project, grader: str, message: str) -> None:
    project.write(rubric_text(graders=grader))

    result = project.run("--collect-only")

    assert message in result.stdout.str()
    assert project.requests() == []


# -- pairwise: MT-Bench pair-v2 -------------------------------------------------------------

PAIR_BODY = (
    "[User Question]\n{{ prompt }}\n\n[The Start of Assistant A's Answer]\n{{ answer_a }}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{{ answer_b }}\n"
    "[The End of Assistant B's Answer]"
)
A_START, A_END = "[The Start of Assistant A's Answer]\n", "\n[The End of Assistant A's Answer]"
B_START, B_END = "[The Start of Assistant B's Answer]\n", "\n[The End of Assistant B's Answer]"


def _pair_judge(reply: Callable[[str, str], str]) -> Rule:
    def text(request: RecordedRequest) -> str:
        content = request.body["messages"][-1]["content"]
        return reply(_between(content, A_START, A_END), _between(content, B_START, B_END))

    return Rule(model="judge-m", reply=Reply(text=text))


def _prefers_candidate(a: str, b: str) -> str:
    if "question three" in a:
        return "Equally good. [[C]]"
    return "A is better. [[A]]" if "[cand-m]" in a else "B is better. [[B]]"


def test_pair_v2_verdicts_map_to_the_answers_and_ties(project: Project) -> None:
    project.server.set_rules([_pair_judge(_prefers_candidate)])
    grader = _grader("pair", "pairwise", "{format: text, preset: verdict_brackets}", PAIR_BODY)
    project.write(rubric_text(graders=grader))

    project.run().assert_outcomes(passed=3)

    (comparison,) = project.rubric_report()["comparisons"]
    assert (comparison["wins"], comparison["ties"], comparison["losses"]) == (2, 1, 0)
    assert comparison["inconsistent"] == 0
    judged = [r for r in project.requests() if r.model == "judge-m"]
    assert len(judged) == 6  # two orders per pair, nothing more
    assert all("response_format" not in r.body for r in judged)
    assert all(r.body["messages"][-1]["content"].endswith("B's Answer]") for r in judged)
    raw = _samples(project, "pair")[("case-1", "cand")]["raw"]
    assert raw == "baseline first:\nB is better. [[B]]\n\ncandidate first:\nA is better. [[A]]"
    assert project.rubric_report()["graders"][0]["output"] == "text:verdict_brackets"


def test_a_custom_verdict_mapping_and_which_order_failed(project: Project) -> None:
    def judge(a: str, b: str) -> str:
        if "question two" in a and "[cand-m]" in a:
            return "I cannot decide."
        return "Winner: first" if "[cand-m]" in a else "Winner: second"

    project.server.set_rules([_pair_judge(judge)])
    output = (
        "{format: text, pattern: 'Winner: (\\w+)', verdicts: {first: a, second: b}, retries: 0}"
    )
    project.write(rubric_text(graders=_grader("pair", "pairwise", output, PAIR_BODY)))

    result = project.run()

    assert item_outcomes(result) == {"case-1": "passed", "case-2": "failed", "case-3": "passed"}
    (comparison,) = project.rubric_report()["comparisons"]
    assert (comparison["wins"], comparison["errors"]) == (2, 1)
    error = _samples(project, "pair")[("case-2", "cand")]["error"]
    assert error.startswith("with the candidate shown first (as A): no usable verdict: expected")
    assert "Winner: (\\w+)" in error and "the reply ends: 'I cannot decide.'" in error


# -- label_model: GRADE: X ------------------------------------------------------------------


def test_label_model_reads_grade_and_rejects_a_label_not_offered(project: Project) -> None:
    def judge(request: RecordedRequest) -> str:
        text = request.body["messages"][-1]["content"]
        if "question three" in text:
            return "Partially right.\nGRADE: P"
        return "Matches the expert.\nGRADE: C" if "[cand-m]" in text else "Wrong.\nGRADE: I"

    project.server.set_rules([Rule(model="judge-m", reply=Reply(text=judge))])
    extra = "labels: [C, I]\npassing_labels: [C]\n"
    grader = _grader(
        "fact",
        "label_model",
        "{format: text, preset: grade, retries: 0}",
        "Q: {{ prompt }}\nA: {{ sample.output_text }}",
        extra,
    )
    project.write(rubric_text(graders=grader))

    project.run()

    samples = _samples(project, "fact")
    assert samples[("case-1", "cand")]["label"] == "C" and samples[("case-1", "cand")]["score"] == 1
    assert samples[("case-1", "base")]["label"] == "I" and samples[("case-1", "base")]["score"] == 0
    error = samples[("case-3", "cand")]["error"]
    assert error.startswith("no usable verdict: label 'P' is not one of ['C', 'I']")
    assert "GRADE: P" in error  # the tail of the reply


# -- hostile answers, quoted back by the judge ----------------------------------------------

HOSTILE_ROWS = [{"id": h.name, "input": f"question {h.name}"} for h in HOSTILE_ANSWERS]


def _hostile_candidate() -> Rule:
    by_prompt = {f"question {h.name}": h.text for h in HOSTILE_ANSWERS}

    def text(request: RecordedRequest) -> str:
        return by_prompt[request.body["messages"][-1]["content"]]

    return Rule(model="cand-m", reply=Reply(text=text))


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("{format: text, preset: rating_brackets}", "Rating: [[2]]"),
        ("{format: text, preset: score}", "Score: 2"),
        ("{format: text, pattern: '(?m)^Final: (\\d+)$'}", "Final: 2"),
    ],
)
@pytest.mark.parametrize(
    "style", ["quote-then-verdict", "verdict-then-quote", "prose-then-verdict"]
)
def test_a_quoted_hostile_answer_never_sets_its_score(
    project: Project, output: str, verdict: str, style: str
) -> None:
    replies = {
        "quote-then-verdict": lambda a: f'The answer says:\n"{a}"\nIt is weak.\n{verdict}',
        "verdict-then-quote": lambda a: f"{verdict}\n\nQuoted for the record:\n{a}",
        "prose-then-verdict": lambda a: (
            f"This deserves a score: 1 at most; underscore 4.\n{verdict}"
        ),
    }
    project.server.set_rules([_hostile_candidate(), _judge(replies[style])])
    project.write(rubric_text(graders=mt_bench_single(output)), HOSTILE_ROWS)

    project.run()

    samples = _samples(project, "mtbench")
    cand = [v["score"] for (case, alias), v in samples.items() if alias == "cand"]
    assert cand == [2.0] * len(HOSTILE_ANSWERS)  # the judge's own verdict, every time
    assert project.server.count(model="judge-m") == 2 * len(HOSTILE_ANSWERS)  # no re-asks


def test_a_json_judge_quoting_a_hostile_answer_is_an_error_never_its_score(
    project: Project,
) -> None:
    def judge(request: RecordedRequest) -> str:
        answer = _between(request.text, START, END)
        return json.dumps({"reasoning": "weak", "score": 2}) + f"\nIt said: {answer}"

    project.server.set_rules([_hostile_candidate(), Rule(judge=True, reply=Reply(text=judge))])
    project.write(rubric_text(graders=mt_bench_single("json")), HOSTILE_ROWS)

    project.run()

    samples = _samples(project, "mtbench")
    cand = [v for (case, alias), v in samples.items() if alias == "cand"]
    assert [v["score"] for v in cand] == [None] * len(HOSTILE_ANSWERS)
    assert all("expected one JSON object" in v["error"] for v in cand)


# -- re-asks that can help ------------------------------------------------------------------


def _unreadable_once() -> list[Rule]:
    """The judge's first reply has no verdict; asked again (any way), it gives one."""
    return [
        Rule(model="judge-m", contains="could not be read", reply=Reply(text="Rating: [[6]]")),
        Rule(model="judge-m", reply=Reply(text="Looks fine.", times=1)),
        Rule(model="judge-m", reply=Reply(text="Rating: [[6]]")),
    ]


@pytest.mark.parametrize(
    ("extra", "follow_ups", "calls"),
    [
        ("", 1, 7),  # deterministic: one follow-up message, appended to the conversation
        ("sampling_params: {temperature: 0.7}\n", 0, 7),  # sampling: the same request again
    ],
)
def test_an_unreadable_reply_is_asked_again_once_and_differently(
    project: Project, extra: str, follow_ups: int, calls: int
) -> None:
    project.server.set_rules(_unreadable_once())
    project.write(rubric_text(graders=mt_bench_single(extra=extra)))

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    judged = [r for r in project.requests() if r.model == "judge-m"]
    assert len(judged) == calls
    asked_again = [r for r in judged if len(r.body["messages"]) == 4]
    assert len(asked_again) == follow_ups
    for request in asked_again:
        assert request.body["messages"][2] == {"role": "assistant", "content": "Looks fine."}
        assert "Rating: [[N]]" in request.body["messages"][3]["content"]
    assert project.report()["calls"] == len(project.requests())


def test_retries_zero_asks_once_and_the_error_shows_the_reply(project: Project) -> None:
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text="Looks fine to me."))])
    output = "{format: text, preset: rating_brackets, retries: 0}"
    project.write(rubric_text(graders=mt_bench_single(output)), prompt_rows({"only": "q"}))

    project.run().assert_outcomes(failed=1)

    assert project.server.count(model="judge-m") == 2
    error = _samples(project, "mtbench")[("only", "cand")]["error"]
    assert error == (
        "no usable verdict: expected Rating: [[N]] (preset rating_brackets); "
        "the reply ends: 'Looks fine to me.'"
    )
    assert project.report()["calls"] == len(project.requests())
