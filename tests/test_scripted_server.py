"""The scripted server, driven by the real openai SDK over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

import deltajudge
from deltajudge.testing import (
    RecordedRequest,
    Reply,
    Rule,
    ScriptedServer,
    ScriptError,
    load_script,
    parse_script,
)

JUDGE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {"name": "grade", "schema": {"type": "object"}, "strict": True},
}


@contextmanager
def serving(*rules: Rule, latency_s: float = 0.0) -> Iterator[ScriptedServer]:
    with ScriptedServer(rules, latency_s=latency_s) as server:
        yield server


@asynccontextmanager
async def client_for(server: ScriptedServer, max_retries: int = 0) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=server.url, api_key="test", max_retries=max_retries, timeout=10
    ) as client:
        yield client


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


async def test_chat_answers_from_a_rule_with_usage() -> None:
    rule = Rule(model="base", contains="refund", reply=Reply(text="Refunds take 5 days."))
    with serving(rule) as server:
        async with client_for(server) as client:
            resp = await client.chat.completions.create(model="base", messages=user("refund?"))

    assert resp.choices[0].message.content == "Refunds take 5 days."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (3, 4)
    assert resp.usage.total_tokens == 7
    (request,) = server.requests
    assert (request.path, request.model, request.judge) == ("/v1/chat/completions", "base", False)
    assert request.body["messages"][1]["content"] == "refund?"
    assert request.headers["authorization"] == "Bearer test"


async def test_default_generation_echoes_model_and_last_user_message() -> None:
    with serving(Rule(model="other", reply=Reply(text="unused"))) as server:
        async with client_for(server) as client:
            resp = await client.chat.completions.create(model="base", messages=user("hello"), n=2)

    assert [c.message.content for c in resp.choices] == ["[base] hello", "[base] hello"]
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (3, 2)


async def test_responses_output_text_matches_input_and_instructions() -> None:
    rule = Rule(path="/v1/responses", contains="pirate", reply=Reply(text="Arr."))
    with serving(rule) as server:
        async with client_for(server) as client:
            hit = await client.responses.create(model="m", input="hi", instructions="pirate")
            miss = await client.responses.create(
                model="m", input=[{"role": "user", "content": "plain"}]
            )

    assert hit.output_text == "Arr."
    assert hit.usage is not None and hit.usage.total_tokens == 3
    assert miss.output_text == "[m] plain"


async def test_completions_echo_the_prompt() -> None:
    with serving() as server:
        async with client_for(server) as client:
            resp = await client.completions.create(model="davinci", prompt="Say hi")

    assert resp.choices[0].text == "[davinci] Say hi"
    assert server.count(path="/v1/completions", model="davinci") == 1


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    texts = ["the refund policy", "the refund policy", "quantum chromodynamics"]
    with serving() as server:
        async with client_for(server) as client:
            resp = await client.embeddings.create(model="emb", input=texts)  # base64 on the wire

    same, twin, other = (d.embedding for d in resp.data)
    assert len(same) == 64
    assert cosine(same, twin) == pytest.approx(1.0)
    assert cosine(same, other) < 0.5


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def test_rate_limit_with_retry_after_is_retried_by_the_sdk() -> None:
    limited = Rule(reply=Reply(status=429, retry_after=0.01, times=1, text="slow down"))
    with serving(limited) as server:
        async with client_for(server, max_retries=2) as client:
            resp = await client.chat.completions.create(model="m", messages=user("x"))

    assert resp.choices[0].message.content == "[m] x"
    assert server.count() == 2


async def test_times_retires_a_rule_after_n_matches() -> None:
    flaky = Rule(model="m", reply=Reply(status=500, times=2, text="boom"))
    with serving(flaky) as server:
        async with client_for(server) as client:
            for _ in range(2):
                with pytest.raises(openai.InternalServerError, match="boom"):
                    await client.chat.completions.create(model="m", messages=user("x"))
            ok = await client.chat.completions.create(model="m", messages=user("x"))
            server.reset()
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model="m", messages=user("x"))

    assert ok.choices[0].message.content == "[m] x"
    assert server.count() == 1


async def test_judge_request_without_a_rule_is_a_loud_400() -> None:
    grade = Rule(contains="scored", judge=True, reply=Reply(json={"reasoning": "ok", "score": 3}))
    with serving(grade) as server:
        async with client_for(server) as client:
            scored = await client.chat.completions.create(
                model="judge", messages=user("scored"), response_format=JUDGE_FORMAT
            )
            with pytest.raises(openai.BadRequestError, match="no rule matched this judge"):
                await client.chat.completions.create(
                    model="judge", messages=user("other"), response_format=JUDGE_FORMAT
                )

    assert json.loads(scored.choices[0].message.content or "") == {"reasoning": "ok", "score": 3}
    assert [r.judge for r in server.requests] == [True, True]


async def test_logprobs_give_sorted_top_alternatives() -> None:
    probs = Reply(logprobs=[{"2": 0.2, "3": 0.7, "4": 0.1}])
    with serving(Rule(reply=probs)) as server:
        async with client_for(server) as client:
            resp = await client.chat.completions.create(
                model="judge", messages=user("score"), logprobs=True, top_logprobs=2
            )
            plain = await client.chat.completions.create(model="judge", messages=user("score"))

    choice = resp.choices[0]
    assert choice.message.content == "3"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    step = choice.logprobs.content[0]
    assert step.token == "3" and step.logprob == pytest.approx(math.log(0.7))
    assert [(t.token, round(math.exp(t.logprob), 6)) for t in step.top_logprobs] == [
        ("3", 0.7),
        ("2", 0.2),
    ]
    assert plain.choices[0].logprobs is None


async def test_refusal_callable_text_and_streaming() -> None:
    def shout(request: RecordedRequest) -> str:
        return request.text.upper()

    rules = [
        Rule(contains="weapon", reply=Reply(refusal="I can't help with that.")),
        Rule(reply=Reply(text=shout)),
    ]
    with serving(*rules) as server:
        async with client_for(server) as client:
            refused = await client.chat.completions.create(model="m", messages=user("weapon"))
            echoed = await client.chat.completions.create(model="m", messages=user("hey"))
            with pytest.raises(openai.BadRequestError, match="does not stream"):
                await client.chat.completions.create(model="m", messages=user("x"), stream=True)

    assert refused.choices[0].message.content is None
    assert refused.choices[0].message.refusal == "I can't help with that."
    assert echoed.choices[0].message.content == "BE BRIEF.\nHEY"


async def test_azure_deployment_paths_use_the_deployment_as_model() -> None:
    rule = Rule(model="ft-dep", path="/v1/chat/completions", reply=Reply(text="azure ok"))
    with serving(rule) as server:
        async with AsyncAzureOpenAI(
            azure_endpoint=server.base_url, api_key="k", api_version="2024-10-21", max_retries=0
        ) as azure:
            resp = await azure.chat.completions.create(model="ft-dep", messages=user("x"))
        async with client_for(server) as client:
            models = [model.id async for model in client.models.list()]

    assert resp.choices[0].message.content == "azure ok"
    request = server.requests[0]
    assert request.path == "/openai/deployments/ft-dep/chat/completions"
    assert request.headers["api-key"] == "k"
    assert models == ["ft-dep", "scripted"]


def test_script_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    rules = [{"judge": True, "reply": {"json": {"score": 4}, "times": 1, "usage": [1, 2]}}]
    path.write_text(json.dumps({"latency_ms": 5, "rules": rules}))
    script = load_script(path)
    assert script.latency_s == pytest.approx(0.005)
    assert script.rules[0] == Rule(
        judge=True, reply=Reply(json={"score": 4}, times=1, usage=(1, 2))
    )

    with pytest.raises(ValueError, match=r"rules\[0\]\.reply\.status: expected an integer"):
        parse_script({"rules": [{"reply": {"status": "429"}}]})
    with pytest.raises(ValueError, match=r"rules\[0\]: unknown key 'modle'"):
        parse_script({"rules": [{"modle": "x"}]})
    path.write_text("{not json")
    with pytest.raises(ScriptError, match=r"script\.json"):
        load_script(path)


async def test_process_form_announces_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"rules": [{"model": "m", "reply": {"text": "from file"}}]}))
    src = str(Path(deltajudge.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "deltajudge.testing", "--port", "0", "--latency-ms", "1", "--script", str(script)),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=15)).decode()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1\n")
        url = line.split()[-1]
        async with AsyncOpenAI(base_url=url, api_key="t", max_retries=0, timeout=5) as client:
            resp = await client.chat.completions.create(model="m", messages=user("x"))
        assert resp.choices[0].message.content == "from file"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=5) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), timeout=5)


def test_server_lifecycle_is_bounded_and_restartable() -> None:
    server = ScriptedServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    server.start()
    first = server.url
    server.stop()
    server.stop()  # idempotent
    with server:
        assert server.url.startswith("http://127.0.0.1:")
    assert first.endswith("/v1")
