"""The bundled example rubrics run as published: FastChat's MT-Bench judges, verbatim
(fixtures/examples/mt_bench/), on the scripted server. The bundled offline judge (a
270M pretrained model) cannot follow MT-Bench's format, so the example lives under
fixtures/ and is exercised here rather than in the bundled suite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Project, item_outcomes
from deltajudge.testing import RecordedRequest, Reply, Rule

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "examples" / "mt_bench"


def _judge(request: RecordedRequest) -> str:
    text = request.text
    if "[The Start of Assistant A's Answer]" in text:  # pair-v2
        a = text.split("[The Start of Assistant A's Answer]\n", 1)[1]
        return "A is clearer.\n[[A]]" if a.startswith("[candidate-m]") else "B is clearer.\n[[B]]"
    answer = text.split("[The Start of Assistant's Answer]\n", 1)[1]
    return f"Fine.\nRating: [[{8 if answer.startswith('[candidate-m]') else 5}]]"


def test_the_mt_bench_example_runs_verbatim_and_is_read_exactly(project: Project) -> None:
    for name in ("mt_bench.yaml", "questions.jsonl"):
        (project.path / "rubrics").mkdir(exist_ok=True)
        shutil.copy(EXAMPLE / name, project.path / "rubrics" / name)
    project.write_config(
        models={
            "candidate": {"model": "candidate-m", "base_url": project.server.url, "api": "chat"}
        }
    )
    project.server.set_rules([Rule(model="judge-m", reply=Reply(text=_judge))])

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    rubric = project.rubric_report("mt_bench")
    assert [g["output"] for g in rubric["graders"]] == [
        "text:rating_brackets",
        "text:rating_brackets",
        "text:verdict_brackets",
    ]
    figures = rubric["models"]["candidate"]["graders"]
    assert (figures["single"]["n"], figures["single"]["mean"]) == (2, 8.0)
    assert (figures["single_math"]["n"], figures["single_math"]["mean"]) == (2, 8.0)
    assert rubric["models"]["base"]["graders"]["single"]["mean"] == 5.0
    pair = next(c for c in rubric["comparisons"] if c["grader"] == "pair")
    assert (pair["wins"], pair["n"], pair["inconsistent"]) == (4, 4, 0)
    judged = [r for r in project.requests() if r.model == "judge-m"]
    assert len(judged) == 4 * 2 + 4 * 2  # single or math per answer; two orders per pair
    for request in judged:
        assert "response_format" not in request.body
        assert (request.body["temperature"], request.body["max_tokens"]) == (0, 2048)
        system, user = request.body["messages"]
        if "[User Question]" in user["content"]:
            assert "Avoid any positional biases" in system["content"]
            assert user["content"].endswith("[The End of Assistant B's Answer]")
        else:
            assert system["content"] == "You are a helpful assistant."
            assert user["content"].endswith("[The End of Assistant's Answer]")
    math = next(r for r in judged if "180 km" in r.text and "Reference Answer" in r.text)
    assert "[The Start of Reference Answer]\n72 km/h (180 / 2.5 = 72).\n" in math.text
    coding = next(r for r in judged if "even numbers" in r.text and "Reference" in r.text)
    assert "def sum_even(xs):" in coding.text  # a list reference, its first entry
