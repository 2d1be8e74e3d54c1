"""Batch API runs end to end: the real openai SDK against the scripted server's Files and
Batches endpoints, through pytester runs of the plugin (submit, collect, submit the
judgments, collect them, then a plain run from the cache)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from conftest import CHAT, Project, item_outcomes, scores_by_marker
from deltajudge.cli import main
from deltajudge.generation.batch_lines import BatchLine, custom_id, split
from deltajudge.generation.batch_state import BATCH_EXIT_CODE, BatchState
from deltajudge.testing import Reply, Rule, ScriptedServer

STRING_GRADER = """\
  - name: echoes
    type: string_check
    input: "{{ sample.output_text }}"
    reference: "question"
    operation: like
"""


def _batch(project: Project, mode: str, *args: str) -> pytest.RunResult:
    return project.run("--dj-batch", mode, *args)


def _input_lines(server: ScriptedServer) -> list[list[dict[str, Any]]]:
    """Each batch's input lines, in creation order, as uploaded."""
    out = []
    for batch in server.batches.batches.values():
        content = server.finetune.files[batch.request["input_file_id"]].content
        out.append([json.loads(line) for line in content.decode().splitlines()])
    return out


def test_a_suite_completes_submit_collect_submit_collect_then_from_the_cache(
    project: Project,
) -> None:
    project.server.set_rules(scores_by_marker({"[base-m]": 1, "[cand-m]": 3}))
    project.write()

    answers = _batch(project, "submit")
    assert answers.ret == BATCH_EXIT_CODE
    answers.stdout.fnmatch_lines(
        ["*submitted 6 requests in 2 batches; rerun with --dj-batch collect*"]
    )
    answers.assert_outcomes(deselected=3)  # no item has a verdict yet: none runs
    assert project.server.count(CHAT) == 0  # nothing was called directly
    assert not (project.path / "reports" / "latest" / "report.json").exists()  # no verdicts
    lines = _input_lines(project.server)
    assert sorted(len(batch) for batch in lines) == [3, 3]
    first = lines[0][0]
    assert first["method"] == "POST" and first["url"] == CHAT
    assert first["custom_id"].startswith("dj-") and first["body"]["model"] in ("base-m", "cand-m")

    collected = _batch(project, "collect")
    assert collected.ret == BATCH_EXIT_CODE
    collected.stdout.fnmatch_lines(["*collected 6 answers; 6 requests are not in a batch yet*"])
    assert project.cache_rows() == {"generations": 6, "judgments": 0}

    judgments = _batch(project, "submit")
    judgments.stdout.fnmatch_lines(["*submitted 6 requests in 1 batches*"])
    judge_lines = _input_lines(project.server)[-1]
    assert {line["body"]["model"] for line in judge_lines} == {"judge-m"}
    assert all("response_format" in line["body"] for line in judge_lines)

    final = _batch(project, "collect")
    assert final.ret == 0
    final.assert_outcomes(passed=3)
    assert project.cache_rows() == {"generations": 6, "judgments": 6}
    scores = {c["id"]: c for c in project.rubric_report()["cases"]}
    assert len(scores) == 3
    assert project.server.batches.lines_answered == 12
    assert project.server.count(CHAT) == 0

    replay = project.run()
    assert replay.ret == 0
    replay.assert_outcomes(passed=3)
    report = project.report()
    assert report["calls"] == 0 and report["cache_hits"] == 12
    assert project.server.count(CHAT) == 0


def test_batch_answers_cost_half_the_list_price(project: Project) -> None:
    project.write(
        rubric=_string_rubric(),
        config_extra="[prices.cand-m]\ninput = 1000000\noutput = 1000000\n",
    )
    _batch(project, "submit")
    final = _batch(project, "collect")
    assert final.ret == 0
    usage = project.report()["models"]["cand"]["tokens"]
    spent = usage["prompt_tokens"] + usage["completion_tokens"]  # $1 per token at list price
    assert spent > 0 and usage["cost_usd"] == pytest.approx(spent * 0.5)


def _string_rubric() -> str:
    from conftest import rubric_text

    return rubric_text(graders=STRING_GRADER)


def test_files_split_at_the_per_file_limit(project: Project) -> None:
    project.write(rubric=_string_rubric())
    result = _batch(project, "submit", "--dj-set", "batch_max_requests=2")
    result.stdout.fnmatch_lines(["*submitted 6 requests in 4 batches*"])
    assert sorted(len(lines) for lines in _input_lines(project.server)) == [1, 1, 2, 2]
    final = _batch(project, "collect")
    assert final.ret == 0
    final.assert_outcomes(passed=3)


def test_split_honours_the_byte_limit_too() -> None:
    lines = [
        BatchLine(f"dj-{i}", "a", CHAT, {"model": "m", "x": "y" * 50}, "answers") for i in range(5)
    ]
    size = len(lines[0].encode(CHAT))
    files = list(split(lines, CHAT, max_requests=50_000, max_bytes=2 * size))
    assert [len(chunk) for chunk, _ in files] == [2, 2, 1]
    assert all(len(data) <= 2 * size for _, data in files)
    assert b"".join(data for _, data in files).count(b"\n") == 5


def test_error_file_lines_become_case_errors_with_their_reason(project: Project) -> None:
    refuse = Reply(status=400, text="flagged by the content filter")
    project.server.set_rules([Rule(model="cand-m", contains="question two", reply=refuse)])
    project.write(rubric=_string_rubric())

    _batch(project, "submit")
    final = _batch(project, "collect")

    outcomes = item_outcomes(final)
    assert outcomes == {"case-1": "passed", "case-2": "failed", "case-3": "passed"}
    final.stdout.fnmatch_lines(["*batch batch_2 line *: HTTP 400: flagged by the content filter*"])
    batch = project.server.batches.batches["batch_2"]
    assert (batch.completed, batch.failed) == (2, 1)
    assert project.cache_rows()["generations"] == 5  # errors are never cached


def test_a_running_batch_prints_its_counts_and_exits_pending(project: Project) -> None:
    project.server.batches.script.polls_to_finish = 3
    project.write(rubric=_string_rubric())
    _batch(project, "submit")

    waiting = _batch(project, "collect")
    assert waiting.ret == BATCH_EXIT_CODE
    waiting.stdout.fnmatch_lines(
        [
            "*pending: 2 batches still running; rerun with --dj-batch collect later*",
            "*batch_1: *answers, in_progress: 0 completed, 0 failed of 3*",
        ]
    )
    plain = project.run()  # a plain rerun while batches are pending collects, never calls
    assert plain.ret == BATCH_EXIT_CODE
    plain.stdout.fnmatch_lines(["*pending: 2 batches still running*"])
    assert project.server.count(CHAT) == 0

    done = project.run()
    assert done.ret == 0
    done.assert_outcomes(passed=3)
    assert project.server.count(CHAT) == 0


def test_status_command_shows_phase_batches_and_counts(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project.server.batches.script.polls_to_finish = 2
    project.write(rubric=_string_rubric())
    _batch(project, "submit")
    _batch(project, "collect")
    monkeypatch.chdir(project.path)
    capsys.readouterr()

    assert main(["batch", "status"]) == 0

    printed = capsys.readouterr().out
    assert "phase: waiting for answers (2 batches not collected)" in printed
    assert "in_progress" in printed and "batch_1" in printed and "batch_2" in printed
    assert "next: deltajudge run --batch collect" in printed


def test_azure_fine_tuned_deployments_are_refused_with_the_reason(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "azure-test-key")  # an Azure alias needs its key
    project.write(
        rubric=_string_rubric(),
        models={"cand": {"provider": "azure", "model": "gpt-4.1-mini-2025-04-14.ft-abc123"}},
    )
    result = _batch(project, "submit")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*Azure OpenAI cannot batch fine-tuned deployments*"])
    assert not project.server.batches.batches


def test_azure_global_batch_lines_name_the_path_without_v1(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    project.write(
        rubric=_string_rubric(),
        models={
            "cand": {
                "provider": "azure",
                "base_url": project.server.base_url,
                "api_key_env": "AZURE_OPENAI_API_KEY",
            }
        },
    )
    _batch(project, "submit")
    azure = next(
        b
        for b in project.server.batches.batches.values()
        if b.lines[0]["body"]["model"] == "cand-m"
    )
    assert azure.request["endpoint"] == "/chat/completions"
    assert {line["url"] for line in azure.lines} == {"/chat/completions"}
    final = _batch(project, "collect")
    assert final.ret == 0


def test_custom_id_is_a_short_hash_of_the_cache_key() -> None:
    key = "ab" * 32
    assert custom_id(key) == "dj-" + key[:24]


def test_state_file_survives_a_round_trip(tmp_path: Path) -> None:
    state = BatchState.load(tmp_path)
    assert state.phase() == "no batches submitted"
    from deltajudge.generation.batch_state import BatchRecord

    state.batches.append(BatchRecord("batch_9", "cand", "m", CHAT, "file-1", "answers", 3))
    state.save()
    again = BatchState.load(tmp_path)
    assert again.batches == state.batches
    assert again.phase() == "waiting for answers (1 batches not collected)"


# -- the scripted server's Batch API, driven by the SDK directly -----------------------------


async def test_scripted_batches_answer_lines_by_the_rules(server: ScriptedServer) -> None:
    server.set_rules([Rule(contains="two", reply=Reply(status=429, text="slow down"))])
    client = openai.AsyncOpenAI(base_url=server.url, api_key="k", max_retries=0)
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": CHAT,
            "body": {"model": "m", "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate(["one", "two"])
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "validating"
    batch = await client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert batch.output_file_id and batch.error_file_id
    output = json.loads((await client.files.content(batch.output_file_id)).text)
    assert output["custom_id"] == "r0"
    assert output["response"]["body"]["choices"][0]["message"]["content"] == "[m] one"
    error = json.loads((await client.files.content(batch.error_file_id)).text)
    assert error["custom_id"] == "r1" and error["response"]["status_code"] == 429
    listed = await client.batches.list()
    assert [b.id for b in listed.data] == [batch.id]
    await client.close()


async def test_scripted_batches_validate_lines_and_cancel(server: ScriptedServer) -> None:
    server.batches.script.polls_to_finish = 5
    client = openai.AsyncOpenAI(base_url=server.url, api_key="k", max_retries=0)
    good = {"custom_id": "a", "method": "POST", "url": CHAT, "body": {"model": "m"}}
    bad = {**good, "custom_id": "b", "url": "/v1/embeddings"}
    data = (json.dumps(good) + "\n" + json.dumps(bad) + "\n").encode()
    uploaded = await client.files.create(file=("in.jsonl", data), purpose="batch")
    failed = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    failed = await client.batches.retrieve(failed.id)
    assert failed.status == "failed" and failed.errors and failed.errors.data
    assert "does not match the batch endpoint" in (failed.errors.data[0].message or "")
    ok = (json.dumps(good) + "\n").encode()
    uploaded = await client.files.create(file=("ok.jsonl", ok), purpose="batch")
    running = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert (await client.batches.retrieve(running.id)).status == "in_progress"
    assert (await client.batches.cancel(running.id)).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        await client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    await client.close()


def test_the_responses_api_batches_on_its_own_url(project: Project) -> None:
    project.write(rubric=_string_rubric(), api="responses")
    _batch(project, "submit")
    assert {line["url"] for lines in _input_lines(project.server) for line in lines} == {
        "/v1/responses"
    }
    final = _batch(project, "collect")
    assert final.ret == 0
    final.assert_outcomes(passed=3)
    assert project.server.count("/v1/responses") == 0


def test_a_batch_the_provider_does_not_know_is_batched_again(project: Project) -> None:
    project.write(rubric=_string_rubric())
    _batch(project, "submit")
    project.server.batches.batches.clear()  # another server behind the same base_url

    again = _batch(project, "submit")

    again.stdout.fnmatch_lines(["*submitted 6 requests in 2 batches*"])
    state = BatchState.load(project.path / ".deltajudge")
    assert [r.status for r in state.batches] == [
        "not found",
        "not found",
        "validating",
        "validating",
    ]
    assert _batch(project, "collect").ret == 0


def test_collect_with_nothing_submitted_says_to_submit(project: Project) -> None:
    project.write(rubric=_string_rubric())
    result = _batch(project, "collect")
    assert result.ret == BATCH_EXIT_CODE
    result.stdout.fnmatch_lines(["*collected 0 answers; 6 requests are not in a batch yet*"])
    assert project.server.count(CHAT) == 0
