"""The pytest plugin end to end: rubric files collected by pytester, the engine talking to
the scripted server over loopback HTTP through the real openai SDK, report.json read back.

Runs are in-process (fast: conftest imports the heavy modules once); one smoke test runs
in a subprocess to prove the installed entry point works on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import (
    CHAT,
    DEFAULT_GRADER,
    PROMPTS,
    QUIET_PLUGINS,
    RESPONSES,
    Project,
    item_outcomes,
    judge_json,
    prompt_rows,
    rubric_text,
    scores_by_marker,
)
from deltajudge.testing import Reply, Rule

#: With no rule, the scripted server answers "[<model>] <prompt>".
CAND_1 = "[cand-m] question one"
CAND_2, BASE_3 = "[cand-m] question two", "[base-m] question three"


def _sample(case: dict[str, Any], alias: str) -> dict[str, Any]:
    sample: dict[str, Any] = case["samples"][alias]
    return sample


def _case(rubric: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in rubric["cases"] if c["id"] == case_id)


def _last_user(body: dict[str, Any], key: str = "messages") -> str:
    users = [m for m in body[key] if m["role"] == "user"]
    content: str = users[-1]["content"]
    return content


# -- the two APIs -----------------------------------------------------------------------


def test_chat_api_generates_then_judges_with_a_json_schema(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()

    result = project.run("-v")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*rubrics/demo.yaml::case-1 PASSED*", "*=== deltajudge ===*"])
    generations, judgments = project.requests(judge=False), project.requests(judge=True)
    assert {r.path for r in project.server.requests} == {CHAT}
    assert sorted((r.model, _last_user(r.body)) for r in generations) == sorted(
        (model, prompt) for model in ("base-m", "cand-m") for prompt in PROMPTS.values()
    )
    assert all("response_format" not in r.body for r in generations)
    assert len(judgments) == 6
    for request in judgments:
        assert request.model == "judge-m"
        fmt = request.body["response_format"]
        assert fmt["type"] == "json_schema"
        assert set(fmt["json_schema"]["schema"]["required"]) == {"reasoning", "score"}
        assert request.body["messages"][0] == {"role": "system", "content": "You grade answers."}
    judged = sorted(_last_user(r.body).split("\n")[0] for r in judgments)
    assert judged == sorted(
        f"Question: {prompt} Answer: [{model}] {prompt}"
        for model in ("base-m", "cand-m")
        for prompt in PROMPTS.values()
    )
    rubric = project.rubric_report()
    assert rubric["models"]["base"]["graders"]["quality"]["mean"] == 1.0
    assert rubric["models"]["cand"]["graders"]["quality"]["mean"] == 3.0
    assert _sample(_case(rubric, "case-1"), "cand")["output_text"] == CAND_1


def test_responses_api_generates_then_judges_with_a_json_schema(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 2, "[cand-m]": 4}))
    project.write(api="responses")

    result = project.run()

    result.assert_outcomes(passed=3)
    assert {r.path for r in project.server.requests} == {RESPONSES}
    generations, judgments = project.requests(judge=False), project.requests(judge=True)
    assert len(generations) == 6 and len(judgments) == 6
    assert all("text" not in r.body for r in generations)
    assert {_last_user(r.body, "input") for r in generations} == set(PROMPTS.values())
    for request in judgments:
        assert request.body["text"]["format"]["type"] == "json_schema"
        assert request.body["text"]["format"]["schema"]["required"] == ["reasoning", "score"]
    rubric = project.rubric_report()
    assert _sample(_case(rubric, "case-2"), "cand")["scores"] == {"quality": 4.0}
    assert _sample(_case(rubric, "case-2"), "base")["reasoning"] == {"quality": "saw [base-m]"}
    assert project.report()["models"]["judge"]["api"] == "responses"


def test_judge_on_responses_while_models_answer_on_chat(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 2}))
    project.write(models={"judge": {"api": "responses"}})

    project.run().assert_outcomes(passed=3)

    assert {r.path for r in project.requests(judge=False)} == {CHAT}
    assert {r.path for r in project.requests(judge=True)} == {RESPONSES}
    assert project.rubric_report()["comparisons"][0]["mean_delta"] == 1.0


def test_the_installed_plugin_runs_in_a_fresh_process(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()

    result = project.pytester.runpytest_subprocess(*QUIET_PLUGINS, timeout=60)

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "deltajudge: 3/3 cases, * calls/s, 12 calls, * tokens, 0 with errors, * s",
            "*rubric demo (3 cases)*",
            "*12 model calls, 0 from cache*",
            "report: *reports/latest/report.json",
        ]
    )
    assert project.server.count() == 12
    assert project.rubric_report()["comparisons"][0]["mean_delta"] == 2.0


# -- reading the judge ------------------------------------------------------------------


def test_a_json_judge_must_answer_one_object_and_a_text_contract_reads_its_format(
    project: Project,
) -> None:
    # The JSON contract reads one JSON object: prose around it is unreadable, never
    # searched for an object (a quoted answer's {"score": 10} would be found there).
    project.server.set_rules(
        [
            Rule(judge=True, contains="[base-m]", reply=Reply(text='Fine: {"score": 3} done.')),
            Rule(judge=True, contains="[cand-m]", reply=judge_json(2, "crisp")),
        ]
    )
    project.write()

    project.run().assert_outcomes(failed=3)

    case = _case(project.rubric_report(), "case-1")
    assert _sample(case, "base")["scores"] == {"quality": None}
    assert (
        'expected one JSON object with "score" and nothing else'
        in (_sample(case, "base")["grade_errors"]["quality"])
    )
    assert _sample(case, "cand")["scores"] == {"quality": 2.0}
    assert _sample(case, "cand")["raw"] == {"quality": '{"reasoning": "crisp", "score": 2}'}


def test_unusable_judge_answers_fail_the_case_with_a_null_score(project: Project) -> None:
    rules = [
        Rule(judge=True, contains=CAND_2, reply=judge_json(7, "way off the scale")),
        Rule(judge=True, contains=BASE_3, reply=Reply(text="I would rather not say.")),
        *scores_by_marker({"[base-m]": 2, "[cand-m]": 3}),
    ]
    project.server.set_rules(rules)
    project.write()

    result = project.run("-rf")

    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "cand/quality: no usable verdict after 2 tries: score 7 is outside the range" in out
    assert "base/quality: no usable verdict after 2 tries: expected one JSON object" in out
    assert "I would rather not say." in out  # the judge's answer is shown
    # A deterministic judge is re-asked once, with a follow-up message saying what was
    # wrong (the same request again would get the same reply); nothing else twice.
    judged = [r.body["messages"] for r in project.requests(judge=True)]
    follow_ups = [m for m in judged if len(m) == 4]
    assert len(follow_ups) == 2 and len(judged) == 6 + 2
    for messages in follow_ups:
        assert messages[2]["role"] == "assistant"
        assert "could not be read" in messages[3]["content"]
    assert project.report()["calls"] == len(project.requests())

    rubric = project.rubric_report()
    cand = _sample(_case(rubric, "case-2"), "cand")
    assert cand["scores"] == {"quality": None}
    assert "outside the range [0, 4]" in cand["grade_errors"]["quality"]
    assert any("outside the range" in e for e in _case(rubric, "case-2")["errors"])
    base = _sample(_case(rubric, "case-3"), "base")
    assert base["scores"] == {"quality": None}
    assert base["raw"] == {"quality": "I would rather not say."}
    # An error is left out of the figures, never averaged in as a zero.
    figures = rubric["models"]["cand"]["graders"]["quality"]
    assert (figures["n"], figures["errors"], figures["mean"]) == (2, 1, 3.0)
    assert rubric["models"]["base"]["graders"]["quality"]["mean"] == 2.0
    comparison = rubric["comparisons"][0]
    assert (comparison["n"], comparison["mean_delta"]) == (1, 1.0)


def test_a_rate_limited_call_is_retried_after_retry_after(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", reply=Reply(status=429, retry_after=1.2, times=1)),
            Rule(judge=True, reply=Reply(status=429, text="slow down", times=1)),
            *scores_by_marker({"[base-m]": 1, "[cand-m]": 3}),
        ]
    )
    project.write()

    started = time.monotonic()
    result = project.run()
    elapsed = time.monotonic() - started

    result.assert_outcomes(passed=3)
    assert project.server.count(model="cand-m") == 4  # 3 answers + the one rate-limited try
    assert project.server.count(model="judge-m") == 7
    # The SDK's own first backoff is under 1 s: waiting longer means Retry-After was used.
    assert elapsed >= 1.2
    assert project.rubric_report()["comparisons"][0]["mean_delta"] == 2.0


def test_refusals_are_errors_not_answers(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", contains="question two", reply=Reply(refusal="I can't help.")),
            Rule(judge=True, contains=BASE_3, reply=Reply(refusal="I won't grade this.")),
            *scores_by_marker({"[base-m]": 1, "[cand-m]": 3}),
        ]
    )
    project.write()

    result = project.run()

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*cand: cand-m refused: I can't help.*"])
    result.stdout.fnmatch_lines(["*judge call failed: judge-m refused: I won't grade this.*"])
    rubric = project.rubric_report()
    refused = _sample(_case(rubric, "case-2"), "cand")
    assert "refused: I can't help." in refused["error"]
    assert refused["scores"] == {"quality": None}
    assert not any(CAND_2 in r.text for r in project.requests(judge=True))  # nothing to grade
    assert _sample(_case(rubric, "case-3"), "base")["scores"] == {"quality": None}


def test_a_refusal_on_the_responses_api_is_an_error_too(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", contains="question two", reply=Reply(refusal="I can't help.")),
            # An empty answer is graded too, so a swallowed refusal would pass unnoticed.
            *scores_by_marker({"[base-m]": 1, "[cand-m]": 3, "Answer: \n": 0}),
        ]
    )
    project.write(api="responses")

    result = project.run()

    result.assert_outcomes(passed=2, failed=1)
    refused = _sample(_case(project.rubric_report(), "case-2"), "cand")
    assert "refused: I can't help." in (refused["error"] or "")


# -- figures and gates ------------------------------------------------------------------

GATES = """\
  - name: lift
    metric: mean_delta
    grader: quality
    min: 1.5
  - name: big-lift
    metric: mean_delta
    grader: quality
    min: 2.5
  - name: cand-pass-rate
    metric: pass_rate
    grader: quality
    model: cand
    min: 0.9
  - name: base-mean
    metric: mean
    grader: quality
    model: base
    min: 1.5
  - metric: pass_rate
    grader: quality
    model: base
    max: 0.5
"""

MENTIONS = """\
  - name: mentions
    type: string_check
    operation: like
    reference: CAND
"""

ANSWERS = {
    ("base-m", "question one"): ("BASE-A", 1),
    ("base-m", "question two"): ("BASE-B", 2),
    ("base-m", "question three"): ("BASE-C", 0),
    ("cand-m", "question one"): ("CAND-A", 3),
    ("cand-m", "question two"): ("CAND-B", 2),
    ("cand-m", "question three"): ("CAND-C", 4),
}


def test_known_scores_give_the_exact_figures_gates_and_report(project: Project) -> None:
    rules = [
        Rule(model=model, contains=prompt, reply=Reply(text=marker, usage=(7, 5)))
        for (model, prompt), (marker, _) in ANSWERS.items()
    ]
    rules += [
        Rule(
            judge=True,
            contains=f"Answer: {marker}",
            reply=Reply(json={"reasoning": f"graded {marker}", "score": score}, usage=(100, 10)),
        )
        for marker, score in ANSWERS.values()
    ]
    project.server.set_rules(rules)
    project.write(rubric_text(graders=DEFAULT_GRADER + MENTIONS, gates=GATES))

    result = project.run("-v")

    # By hand: base 1, 2, 0 (mean 1, 1 of 3 at >= 2); cand 3, 2, 4 (mean 3, 3 of 3).
    # Deltas +2, 0, +4: mean 2, two wins and a tie.
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*::lift PASSED*",
            "*::big-lift FAILED*",
            "*::cand-pass-rate PASSED*",
            "*::base-mean FAILED*",
            "*::pass_rate?quality, base? <= 0.5 PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*gate failed: big-lift*", "*mean_delta = 2, below the minimum 2.5*"]
    )
    report = project.report()
    (rubric,) = report["rubrics"]
    assert (rubric["cases_total"], rubric["cases_selected"]) == (3, 3)
    base = rubric["models"]["base"]["graders"]["quality"]
    cand = rubric["models"]["cand"]["graders"]["quality"]
    assert (base["n"], base["mean"], base["pass_rate"]) == (3, 1.0, pytest.approx(1 / 3))
    assert (cand["n"], cand["mean"], cand["pass_rate"]) == (3, 3.0, 1.0)
    assert rubric["models"]["cand"]["graders"]["mentions"]["mean"] == 1.0
    assert rubric["models"]["base"]["graders"]["mentions"]["mean"] == 0.0
    by_grader = {c["grader"]: c for c in rubric["comparisons"]}
    quality = by_grader["quality"]
    assert (quality["baseline"], quality["candidate"], quality["mean_delta"]) == (
        "base",
        "cand",
        2.0,
    )
    assert (quality["wins"], quality["ties"], quality["losses"]) == (2, 1, 0)
    assert by_grader["mentions"]["mean_delta"] == 1.0
    gates = {g["name"]: (g["passed"], g["value"]) for g in rubric["gates"]}
    assert gates == {
        "lift": (True, 2.0),
        "big-lift": (False, 2.0),
        "cand-pass-rate": (True, 1.0),
        "base-mean": (False, 1.0),
        "pass_rate(quality, base) <= 0.5": (True, pytest.approx(1 / 3)),
    }
    case = _case(rubric, "case-3")
    assert case["prompt"] == "question three"
    cand_sample = _sample(case, "cand")
    assert cand_sample["output_text"] == "CAND-C"
    assert cand_sample["scores"] == {"quality": 4.0, "mentions": 1.0}
    assert cand_sample["reasoning"]["quality"] == "graded CAND-C"
    assert cand_sample["error"] is None
    assert case["deltas"] == {"cand": {"quality": 4.0, "mentions": 1.0}}
    tokens = {alias: report["models"][alias]["tokens"] for alias in ("base", "cand", "judge")}
    assert (
        tokens["base"]
        == tokens["cand"]
        == {
            "prompt_tokens": 21,
            "completion_tokens": 15,
            "calls": 3,
            "cached_calls": 0,
            "cost_usd": None,  # base-m and cand-m are in no price table
        }
    )
    assert tokens["judge"] == {
        "prompt_tokens": 600,
        "completion_tokens": 60,
        "calls": 6,
        "cached_calls": 0,
        "cost_usd": None,
    }
    assert "gate FAIL: big-lift" in result.stdout.str()


# -- selection ----------------------------------------------------------------------------


def test_k_selection_narrows_what_is_generated(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write(rubric_text(gates="  - metric: mean_delta\n    grader: quality\n    min: 0\n"))

    result = project.run("-k", "case-1 or case-2")

    result.assert_outcomes(passed=2, deselected=2)  # case-3 and the gate
    asked = {_last_user(r.body) for r in project.requests(judge=False)}
    assert asked == {"question one", "question two"}
    assert project.server.count() == 8
    assert not (project.path / "reports" / "latest").exists()  # a full run's folder
    partial = project.path / "reports" / "latest-partial" / "report.json"
    (rubric,) = json.loads(partial.read_text(encoding="utf-8"))["rubrics"]
    assert (rubric["cases_selected"], rubric["cases_total"]) == (2, 3)
    assert [c["id"] for c in rubric["cases"]] == ["case-1", "case-2"]
    result.stdout.fnmatch_lines(["*rubric demo (2 of 3 cases)*"])


def test_a_gate_selected_alone_still_evaluates_every_case(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write(
        rubric_text(
            gates="  - name: lift\n    metric: mean_delta\n    grader: quality\n    min: 1\n"
        )
    )

    result = project.run("-k", "lift")

    result.assert_outcomes(passed=1, deselected=3)
    assert project.server.count() == 12
    assert project.rubric_report()["gates"][0]["value"] == 2.0


def test_collect_only_calls_no_model(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1}))
    project.write(rubric_text(gates="  - metric: mean_delta\n    grader: quality\n    min: 0\n"))

    result = project.run("--collect-only", "-q")

    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["rubrics/demo.yaml::case-1", "rubrics/demo.yaml::case-3", "*mean_delta*"]
    )
    assert project.server.requests == []
    assert not (project.path / "reports").exists()
    assert not (project.path / ".deltajudge").exists()


def test_a_session_without_rubric_files_shows_nothing_of_ours(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    heavy = sorted(m for m in ('openai', 'jinja2', 'numpy', 'deltajudge.pipeline')"
        " if m in sys.modules)\n"
        "    open('imported.txt', 'w').write(' '.join(heavy))\n"
    )

    result = pytester.runpytest_subprocess("--no-header", "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=1)
    assert "deltajudge" not in result.stdout.str() + result.stderr.str()
    assert (pytester.path / "imported.txt").read_text() == ""
    assert not (pytester.path / "reports").exists()
    assert not (pytester.path / ".deltajudge").exists()


# -- data sets on the wire ----------------------------------------------------------------


def test_sft_reference_is_judged_but_never_sent_to_the_models(project: Project) -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Data set system."},
                {"role": "user", "content": f"sft question {n}"},
                {"role": "assistant", "content": f"REFERENCE-{n}"},
            ]
        }
        for n in (1, 2)
    ]
    grader = DEFAULT_GRADER.replace(
        "Answer: {{ sample.output_text }}",
        "Answer: {{ sample.output_text }} Reference: {{ reference }}",
    )
    project.server.set_rules(scores_by_marker({"Reference: REFERENCE-": 2}))
    project.write(rubric_text(graders=grader), rows, models={"cand": {"system": "Be upbeat."}})

    project.run().assert_outcomes(passed=2)

    for request in project.requests(judge=False):
        assert "REFERENCE-" not in json.dumps(request.body)
        assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
        expected_system = "Be upbeat." if request.model == "cand-m" else "Data set system."
        assert request.body["messages"][0]["content"] == expected_system
    assert len(project.requests(judge=True)) == 4
    ids = [c["id"] for c in project.rubric_report()["cases"]]
    assert ids == ["sft-question-1", "sft-question-2"]


# -- mistakes in user files: caught at collection, before any paid call -------------------

UNSET_KEY = "DJ_TEST_UNSET_KEY"

#: Writes a project with one mistake in it.
Setup = Callable[[Project], object]


def _rows_plus(extra: dict[str, Any] | str) -> Setup:
    return lambda p: p.write(rows=[*prompt_rows(), extra])


def _grader_edit(old: str, new: str) -> Setup:
    return lambda p: p.write(rubric_text(graders=DEFAULT_GRADER.replace(old, new)))


MISTAKES: dict[str, tuple[Setup, list[str]]] = {
    "dataset-bad-json": (
        _rows_plus('{"id": "case-4", "input": }'),
        ["*data/demo.jsonl:4:*: invalid JSON: Expecting value*"],
    ),
    "dataset-other-shape": (
        _rows_plus({"messages": [{"role": "user", "content": "hi"}]}),
        [
            "*data/demo.jsonl:4: row is not a prompt row like the first row of this file",
            'Hint: expected {"id": "optional", "input": "text"} or {"prompt": "text"}',
        ],
    ),
    "dataset-duplicate-id": (
        _rows_plus({"id": "case-2", "input": "again"}),
        ["*data/demo.jsonl:4: duplicate case id 'case-2' (first on line 2)", "Hint: *unique*"],
    ),
    "rubric-unknown-key": (
        _grader_edit("range:", "rang:"),
        ["*rubrics/demo.yaml:8:5: graders[[]0[]].rang: unknown key*"],
    ),
    "rubric-range-reversed": (
        _grader_edit("[0, 4]", "[4, 0]"),
        [
            "*rubrics/demo.yaml:8:*: graders[[]0[]].range: expected [[]min, max[]] "
            "with min < max (got [[]4, 0[]])"
        ],
    ),
    "rubric-unknown-grader-type": (
        _grader_edit("type: score_model", "type: score_modle"),
        ["*rubrics/demo.yaml:*: unknown grader type 'score_modle'; expected one of:*"],
    ),
    "template-reference-without-references": (
        _grader_edit("{{ prompt }}", "{{ reference }}"),
        [
            "*rubrics/demo.yaml:14:*: graders[[]0[]].input[[]1[]].content: undefined variable: "
            "'reference' is undefined (this data set has no reference answers)*"
        ],
    ),
    "template-typo": (
        _grader_edit("sample.output_text", "sampel.output_text"),
        ["*rubrics/demo.yaml:14:*: *undefined variable: 'sampel' is undefined*"],
    ),
    "unknown-model-alias": (
        _grader_edit("model: judge", "model: judg"),
        [
            "*rubrics/demo.yaml:7:5: model alias 'judg' is not configured "
            "(configured: base, cand, judge)",
            'Hint: add [[]models.judg[]] with model = "..." to */deltajudge.toml, '
            "or pass --dj-model judg=MODEL_ID",
        ],
    ),
    "missing-api-key": (
        lambda p: p.write(models={"judge": {"base_url": None, "api_key_env": UNSET_KEY}}),
        [
            "*rubrics/demo.yaml:7:5: model alias 'judge' (judge-m) needs an API key "
            "in $DJ_TEST_UNSET_KEY*"
        ],
    ),
    "config-unknown-key": (
        lambda p: p.write(models={"base": {"modle": "typo"}}),
        [
            "*deltajudge.toml:*: models.base.modle: unknown key",
            "Hint: did you mean 'model'? expected one of: model,*",
        ],
    ),
    "config-wrong-type": (
        lambda p: p.write(config_extra="concurrency = 'many'"),
        ["*deltajudge.toml:1: concurrency: Input should be a valid integer*(got 'many')"],
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_fail_collection_with_location_and_no_call(
    project: Project, monkeypatch: pytest.MonkeyPatch, mistake: str
) -> None:
    setup, expected = MISTAKES[mistake]
    monkeypatch.delenv(UNSET_KEY, raising=False)
    project.server.set_rules(scores_by_marker({"[": 1}))
    setup(project)

    result = project.run()

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting rubrics/demo.yaml*", *expected])
    assert "Traceback" not in result.stdout.str()
    assert project.server.requests == []
    assert not (project.path / "reports").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dj-set", "concurrency"], "--dj-set expects KEY=VALUE (got 'concurrency')"),
        (["--dj-set", "=4"], "--dj-set expects KEY=VALUE (got '=4')"),
        (["--dj-model", "cand"], "--dj-model expects ALIAS=MODEL (got 'cand')"),
    ],
)
def test_malformed_command_line_assignments_are_usage_errors(
    project: Project, args: list[str], expected: str
) -> None:
    project.server.set_rules(scores_by_marker({"[": 1}))
    project.write()

    result = project.run(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in result.stderr.str()
    assert project.server.requests == []


def test_an_unknown_dj_set_key_names_the_option_not_the_file(project: Project) -> None:
    project.write()

    result = project.run("--dj-set", "concurrenccy=4")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "concurrenccy: unknown key (from the command line)",
            "Hint: did you mean 'concurrency'? expected one of:*",
        ]
    )
    assert "deltajudge.toml" not in result.stdout.str()
    assert project.server.requests == []


def test_command_line_options_change_what_is_sent_and_where_reports_go(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[ft:cand-2]": 3}))
    project.write()

    result = project.run(
        *("--dj-model", "cand=ft:cand-2"),
        *("--dj-set", "models.base.params.temperature=0.25"),
        *("--dj-set", "models.base.params.max_output_tokens=50"),
        *("--dj-report-dir", "out/run-7"),
    )

    result.assert_outcomes(passed=3)
    assert {r.model for r in project.requests(judge=False)} == {"base-m", "ft:cand-2"}
    for request in project.requests(judge=False):
        base = request.model == "base-m"
        assert request.body.get("temperature") == (0.25 if base else None)
        assert request.body.get("max_tokens") == (50 if base else None)
    report = json.loads((project.path / "out" / "run-7" / "report.json").read_text())
    assert report["models"]["cand"]["model"] == "ft:cand-2"
    assert report["models"]["base"]["params"] == {"temperature": 0.25, "max_output_tokens": 50}
    assert not (project.path / "reports").exists()


# -- endpoints that misbehave ---------------------------------------------------------------


def test_a_slow_answer_times_out_as_an_error_on_its_case(project: Project) -> None:
    project.server.set_rules(
        [
            Rule(model="cand-m", contains="question one", reply=Reply(text="late", delay_s=0.8)),
            *scores_by_marker({"[base-m]": 1, "[cand-m]": 3}),
        ]
    )
    project.write()

    result = project.run("--dj-set", "timeout_s=0.3", "--dj-set", "max_retries=0")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*cand: timed out calling cand-m*"])
    sample = _sample(_case(project.rubric_report(), "case-1"), "cand")
    assert sample["error"] == "timed out calling cand-m"
    assert sample["scores"] == {"quality": None}


def test_an_unreachable_endpoint_names_its_url(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1}))
    project.write(models={"cand": {"base_url": "http://127.0.0.1:9/v1"}})

    result = project.run("--dj-set", "max_retries=0")

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*cand: cannot reach http://127.0.0.1:9/v1*"])
    assert project.server.count(model="base-m") == 3
    assert project.rubric_report()["models"]["base"]["graders"]["quality"]["n"] == 3


def test_two_rubrics_on_one_data_set_share_the_generations(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()
    strict = DEFAULT_GRADER.replace("You grade answers.", "You grade answers strictly.")
    project.write_rubric(rubric_text(name="strict", graders=strict), "strict")

    project.run().assert_outcomes(passed=6)

    assert len(project.requests(judge=False)) == 6  # asked once, used by both rubrics
    assert len(project.requests(judge=True)) == 12
    assert {r["name"] for r in project.report()["rubrics"]} == {"demo", "strict"}


def test_deselecting_every_rubric_item_calls_no_model(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()
    project.pytester.makepyfile("def test_plain():\n    pass\n")

    result = project.run("-m", "not deltajudge")

    result.assert_outcomes(passed=1, deselected=3)
    assert project.server.requests == []
    assert not (project.path / "reports").exists()


# -- no silent traps ----------------------------------------------------------------------


def test_a_rubric_without_gates_gets_default_gates_that_catch_a_regression(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 1}))
    rows = [{"id": f"q{n}", "input": f"question {n}"} for n in range(1, 9)]
    project.write(rubric_text().replace("gates: []\n", ""), rows)

    result = project.run()

    outcomes = item_outcomes(result)
    assert outcomes == {
        **{row["id"]: "passed" for row in rows},
        "not_worse(quality, cand)": "failed",  # 8 of 8 cases lower: significantly worse
        "errors(quality, cand) <= 0": "passed",
    }
    result.stdout.fnmatch_lines(
        ["demo: no `gates:` in demo.yaml, so the default gates apply: "
         "not_worse(quality, cand); errors(quality, cand) <= 0 (write*"]
    )  # fmt: skip


def test_collect_only_needs_no_api_key(project: Project) -> None:
    project.write(models={"judge": {"base_url": None, "api_key_env": UNSET_KEY}})

    result = project.run("--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["rubrics/demo.yaml::case-1", "3 tests collected*"])
    assert project.server.count() == 0


def test_a_rubric_named_on_the_command_line_is_collected_outside_rubrics(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()
    (project.path / "evals").mkdir()
    moved = project.path / "evals" / "tone.yaml"
    (project.path / "rubrics" / "demo.yaml").rename(moved)

    assert project.run("evals").ret == pytest.ExitCode.NO_TESTS_COLLECTED  # a folder: as before
    result = project.run("evals/tone.yaml")

    result.assert_outcomes(passed=3)


def test_limit_runs_the_same_seeded_subset_and_writes_a_partial_report(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write(rows=[{"input": f"question {n}"} for n in range(1, 11)])

    first = project.run("--dj-limit", "4")
    second = project.run("--dj-limit=4")

    first.assert_outcomes(passed=4, deselected=6)
    second.assert_outcomes(passed=4, deselected=6)
    selected = [set(item_outcomes(r)) for r in (first, second)]
    assert selected[0] == selected[1] and len(selected[0]) == 4
    assert project.server.count() == 16  # 4 cases x (2 answers + 2 judgments), then cached
    assert (project.path / "reports" / "latest-partial" / "report.json").is_file()
    assert not (project.path / "reports" / "latest").exists()
    first.stdout.fnmatch_lines(["partial run: 4 of 10 cases*"])


def test_a_partial_run_does_not_update_the_baseline_unless_forced(project: Project) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()
    baseline = project.path / "accepted.json"
    update = ("--dj-baseline", "accepted.json", "--dj-update-baseline")

    refused = project.run(*update, "-k", "case-1 or baseline")

    assert item_outcomes(refused) == {"case-1": "passed", "baseline": "failed"}
    refused.stdout.fnmatch_lines(["*baseline not updated: this run evaluated only some*"])
    assert not baseline.exists()
    forced = project.run(*update, "-k", "case-1 or baseline", "--dj-force-baseline")
    assert item_outcomes(forced) == {"case-1": "passed", "baseline": "passed"}
    assert baseline.is_file()


# -- deltajudge init ------------------------------------------------------------------------


def test_init_writes_a_suite_whose_default_gate_fails_a_regressed_candidate(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltajudge.cli import main

    argv = ["init", "--name", "support", "--dir", str(project.path), "--base-url",
            project.server.url, "--baseline-model", "base-m", "--candidate-model", "cand-m",
            "--judge-model", "judge-m", "--criteria", "friendly and correct"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "deltajudge run --junitxml reports/junit.xml" in printed
    assert "OPENAI_API_KEY" not in printed  # every alias has a base_url: no key needed
    assert main(argv) == 2  # nothing is overwritten without --force
    assert "already exist" in capsys.readouterr().err
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 1}))

    result = project.run()

    outcomes = item_outcomes(result)
    assert outcomes["not worse"] == "failed" and outcomes["no errors"] == "passed"
    result.stdout.fnmatch_lines(
        [
            "gate failed: not worse",
            "95% CI lower bound -2 not above -0.2*",
            "worst cases (8 cases scored lower):",
            "  my-order-arrived-damaged-what-can-i-do (quality -2 vs base): "
            "My order arrived damaged. What can I do?",
            "  how-do-i-reset-my-password (quality -2 vs base): How do I reset my password?",
            "  can-i-change-the-delivery-address-after (*",
            "  … and 5 more cases scored lower",
        ]
    )
    assert sum(o == "passed" for o in outcomes.values()) == 9  # the 8 example cases + errors
    assert "how-do-i-reset-my-password" in outcomes
    judged = project.requests(judge=True)[0].body["messages"][0]["content"]
    assert "friendly and correct" in judged


def test_a_failure_of_the_whole_run_is_reported_once_not_on_every_case(project: Project) -> None:
    model = project.path / "vanishing.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    project.write(
        models={"cand": {"provider": "local", "model_path": str(model), "base_url": None}}
    )
    # The file passes the check at collection, then disappears before the run starts.
    project.pytester.makeconftest(
        f"import os\n\ndef pytest_collection_finish(session):\n    os.remove({str(model)!r})\n"
    )

    result = project.run()

    result.assert_outcomes(failed=1)  # the first case says why; the other two do not repeat it
    # (the short summary's FAILED line repeats it too, in full when CI is set: not counted)
    body = [line for line in result.stdout.lines if not line.startswith("FAILED ")]
    assert sum("does not exist" in line for line in body) == 1
    result.stdout.fnmatch_lines(
        ["*deltajudge could not run the evaluation (see the failure above)*"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_x_stops_scheduling_cases_once_one_has_failed(project: Project) -> None:
    # No judge rule: every judgment is an HTTP 400, so every case fails.
    project.write(rows=[{"input": f"question {n}"} for n in range(1, 41)])

    everything = project.run("--dj-concurrency=1", "--dj-no-cache")
    answered_all = len(project.requests(judge=False))
    stopped = project.run("-x", "--dj-concurrency=1", "--dj-no-cache")

    everything.assert_outcomes(failed=40)
    assert answered_all == 80
    stopped.assert_outcomes(failed=1)  # pytest stops at the first failed item, as always
    answered = len(project.requests(judge=False)) - answered_all
    assert 2 <= answered < 40, answered  # the cases in flight finished; no new one started
    assert (project.path / "reports" / "latest-partial" / "report.json").is_file()
