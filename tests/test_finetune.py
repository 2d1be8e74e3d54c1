"""Fine-tuning jobs end to end: the CLI and the real openai SDK against the scripted
server's Files API and fine-tuning endpoints (OpenAI and Azure v1 paths, key and bearer
token auth). No test calls a real API."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, rubric_text, scores_by_marker
from deltajudge.cases.finetune_shape import check_file
from deltajudge.cli import main
from deltajudge.errors import ConfigError
from deltajudge.generation import finetune as ft
from deltajudge.generation.models import resolve_models
from deltajudge.settings import Settings
from deltajudge.settings_edit import write_alias
from deltajudge.testing import ScriptedServer

SFT_ROW = {
    "messages": [
        {"role": "system", "content": "You are Good Vibes support."},
        {"role": "user", "content": "My order is late."},
        {"role": "assistant", "content": "Sorry! Let me check it for you."},
    ]
}
DPO_ROW = {
    "input": {"messages": [{"role": "user", "content": "My order is late."}]},
    "preferred_output": [{"role": "assistant", "content": "Sorry! Let me check."}],
    "non_preferred_output": [{"role": "assistant", "content": "Not my problem."}],
}


def sft_rows(n: int = 10, start: int = 0) -> list[dict[str, Any]]:
    """Distinct rows, at least the 10 a job needs, so the data tools' checks pass too."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"Where is order {i}?"},
                {"role": "assistant", "content": f"Order {i} ships today."},
            ]
        }
        for i in range(start, start + n)
    ]


def dpo_rows(n: int = 10, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"Where is order {i}?"}]},
            "preferred_output": [{"role": "assistant", "content": f"Order {i} ships today."}],
            "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
        }
        for i in range(start, start + n)
    ]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    return tmp_path


def start_job(server: ScriptedServer, workdir: Path, *extra: str) -> str:
    train = write_jsonl(workdir / "train.jsonl", dpo_rows())
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    code = main(
        [*args, "--method", "dpo", "--model", "gpt-4.1-mini", "--train", str(train), *extra]
    )
    assert code == 0
    return next(iter(server.finetune.jobs))


# -- create ------------------------------------------------------------------------------


def test_create_dpo_uploads_waits_and_sends_the_method_block(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(workdir / "train.jsonl", dpo_rows(12))
    val = write_jsonl(workdir / "val.jsonl", dpo_rows(10, start=12))
    code = main(
        [
            *("finetune", "create", "--provider", "openai", "--base-url", server.url),
            *("--method", "dpo", "--model", "gpt-4.1-mini", "--train", str(train)),
            *("--val", str(val), "--n-epochs", "2", "--beta", "0.1", "--batch-size", "8"),
            *("--learning-rate-multiplier", "0.5", "--seed", "7", "--suffix", "vibes"),
            *("--interval", "0"),
        ]
    )
    assert code == 0
    [body] = server.finetune.created
    files = server.finetune.files
    assert body["method"] == {
        "type": "dpo",
        "dpo": {
            "hyperparameters": {
                "n_epochs": 2,
                "batch_size": 8,
                "learning_rate_multiplier": 0.5,
                "beta": 0.1,
            }
        },
    }
    assert (body["seed"], body["suffix"], body["model"]) == (7, "vibes", "gpt-4.1-mini")
    assert files[body["training_file"]].content == train.read_bytes()
    assert files[body["validation_file"]].content == val.read_bytes()
    assert {f.purpose for f in files.values()} == {"fine-tune"}
    # each upload was polled until the provider said "processed" (one "uploaded" first)
    assert all(f.retrieves == 2 for f in files.values())
    assert "trainingType" not in body
    out = capsys.readouterr().out
    job_id = next(iter(server.finetune.jobs))
    assert f"created {job_id} (dpo on gpt-4.1-mini)" in out
    assert f"deltajudge finetune watch {job_id} --provider openai --base-url {server.url}" in out


def test_create_sft_sends_a_supervised_block(server: ScriptedServer, workdir: Path) -> None:
    train = write_jsonl(workdir / "train.jsonl", sft_rows())
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    code = main(
        [
            *args,
            "--method",
            "sft",
            "--model",
            "gpt-4.1-mini",
            "--train",
            str(train),
            "--interval",
            "0",
        ]
    )
    assert code == 0
    assert server.finetune.created[0]["method"] == {"type": "supervised", "supervised": {}}


def test_create_on_azure_v1_with_a_key_sends_training_type(
    server: ScriptedServer, workdir: Path
) -> None:
    train = write_jsonl(workdir / "train.jsonl", dpo_rows())
    code = main(
        [
            *("finetune", "create", "--provider", "azure", "--base-url", server.base_url),
            *("--method", "dpo", "--model", "gpt-4.1-mini", "--train", str(train)),
            *("--training-type", "GlobalStandard", "--interval", "0"),
        ]
    )
    assert code == 0
    assert server.finetune.created[0]["trainingType"] == "GlobalStandard"
    paths = [r.path for r in server.requests]
    assert paths[0] == "/openai/v1/files" and "/openai/v1/fine_tuning/jobs" in paths
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer azure-test-key"}
    assert all("api-version" not in r.path for r in server.requests)


def test_azure_entra_token_is_sent_as_the_bearer(server: ScriptedServer) -> None:
    client = ft.connect(
        "azure", server.base_url + "/openai/v1/", environ={}, token_provider=lambda: "entra-tok"
    )
    assert ft.list_jobs(client) == []
    assert server.requests[-1].path == "/openai/v1/fine_tuning/jobs"
    assert server.requests[-1].headers["authorization"] == "Bearer entra-tok"


@pytest.mark.skipif(
    importlib.util.find_spec("azure") is not None,
    reason="azure-identity installed: DefaultAzureCredential would be used instead",
)
def test_azure_without_key_or_azure_identity_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY") as info:
        ft.connect("azure", "https://example.openai.azure.com", environ={})
    assert "deltajudge[azure]" in str(info.value)


def test_a_file_of_the_wrong_shape_is_refused_before_upload(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(workdir / "train.jsonl", [*sft_rows(), DPO_ROW])
    (workdir / "train.jsonl").write_text(train.read_text() + "{not json\n", encoding="utf-8")
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    code = main(
        [
            *args,
            "--method",
            "sft",
            "--model",
            "gpt-4.1-mini",
            "--train",
            str(train),
            "--interval",
            "0",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{train}:11: missing 'messages'" in err and "use --method dpo" in err
    assert f"{train}:12: not JSON" in err
    assert "nothing was uploaded" in err
    assert server.requests == []


def test_a_hyperparameter_the_method_does_not_take_is_refused(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(workdir / "train.jsonl", sft_rows())
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    code = main([*args, "--method", "sft", "--model", "m", "--train", str(train), "--beta", "0.1"])
    assert code == 2
    assert "--beta does not apply to --method sft" in capsys.readouterr().err
    assert server.requests == []


def test_reinforcement_needs_a_grader_and_sends_it(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rft_rows = [
        {"messages": [{"role": "user", "content": f"{i}+2?"}], "answer": str(i + 2)}
        for i in range(10)
    ]
    train = write_jsonl(workdir / "train.jsonl", rft_rows)
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    args += ["--method", "reinforcement", "--model", "o4-mini", "--train", str(train)]
    assert main(args) == 2
    assert "needs a grader" in capsys.readouterr().err
    grader = {
        "type": "string_check",
        "name": "exact",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    (workdir / "grader.json").write_text(json.dumps(grader), encoding="utf-8")
    assert main([*args, "--grader", "grader.json", "--n-epochs", "1", "--interval", "0"]) == 0
    method = server.finetune.created[0]["method"]
    assert method == {
        "type": "reinforcement",
        "reinforcement": {"grader": grader, "hyperparameters": {"n_epochs": 1}},
    }


def test_an_upload_the_provider_rejects_shows_its_message(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.finetune.script.reject_upload = "File contains an invalid UTF-8 sequence"
    train = write_jsonl(workdir / "train.jsonl", sft_rows())
    args = ["finetune", "create", "--provider", "openai", "--base-url", server.url]
    assert main([*args, "--method", "sft", "--model", "m", "--train", str(train)]) == 2
    err = capsys.readouterr().err
    assert "HTTP 400: File contains an invalid UTF-8 sequence" in err
    assert server.finetune.jobs == {}
    assert "sk-test-openai" not in err


# -- watch, list, cancel, checkpoints ---------------------------------------------------


def watch_args(server: ScriptedServer, job_id: str, *extra: str) -> list[str]:
    base = ["finetune", "watch", job_id, "--provider", "openai", "--base-url", server.url]
    return [*base, "--interval", "0", *extra]


def test_watch_writes_the_model_as_an_alias_on_success(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "deltajudge.toml"
    config.write_text(
        '# the suite\n[models.base]\nmodel = "gpt-4.1-mini"\n\n[models.candidate]\n'
        'model = "old"  # replaced\nparams = { temperature = 0 }\n',
        encoding="utf-8",
    )
    job_id = start_job(server, workdir, "--suffix", "vibes", "--interval", "0")
    assert main(watch_args(server, job_id)) == 0
    out = capsys.readouterr().out
    model = f"ft:gpt-4.1-mini:scripted:vibes:{job_id}"
    assert "step 10/30  train_loss=1.0" in out and "step 30/30" in out
    assert f"{job_id}: succeeded" in out and "12345 trained tokens" in out
    table = tomllib.loads(config.read_text(encoding="utf-8"))
    assert table["models"]["candidate"] == {
        "model": model,
        "params": {"temperature": 0},
        "base_url": server.url,
    }
    assert table["models"]["base"] == {"model": "gpt-4.1-mini"}
    assert config.read_text(encoding="utf-8").startswith("# the suite\n")


def test_watch_a_failed_job_prints_the_error_and_writes_nothing(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.finetune.script.fail_with = "Training file has 3 examples; at least 10 are needed"
    job_id = start_job(server, workdir, "--interval", "0")
    assert main(watch_args(server, job_id)) == 1
    err = capsys.readouterr().err
    assert f"{job_id} failed: Training file has 3 examples" in err
    assert not (workdir / "deltajudge.toml").exists()


def test_cancel_then_watch_exits_non_zero(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = start_job(server, workdir, "--interval", "0")
    connection = ["--provider", "openai", "--base-url", server.url]
    assert main(["finetune", "cancel", job_id, *connection]) == 0
    assert f"{job_id}: cancelled" in capsys.readouterr().out
    assert server.count(path=f"/v1/fine_tuning/jobs/{job_id}/cancel") == 1
    assert main(watch_args(server, job_id)) == 1
    assert "cancelled" in capsys.readouterr().err
    assert main(["finetune", "cancel", job_id, *connection]) == 2
    assert "has already cancelled" in capsys.readouterr().err


def test_watch_into_pyproject_appends_a_nested_table(server: ScriptedServer, workdir: Path) -> None:
    (workdir / "pyproject.toml").write_text('[project]\nname = "suite"\n', encoding="utf-8")
    job_id = start_job(server, workdir, "--interval", "0")
    assert main(watch_args(server, job_id, "--alias", "dpo")) == 0
    table = tomllib.loads((workdir / "pyproject.toml").read_text(encoding="utf-8"))
    assert table["tool"]["deltajudge"]["models"]["dpo"]["model"].endswith(job_id)
    assert table["project"] == {"name": "suite"}


def test_list_and_checkpoints(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = start_job(server, workdir, "--interval", "0")
    assert main(watch_args(server, job_id)) == 0
    capsys.readouterr()
    connection = ["--provider", "openai", "--base-url", server.url]
    assert main(["finetune", "list", *connection]) == 0
    assert f"{job_id}  succeeded" in capsys.readouterr().out
    assert main(["finetune", "checkpoints", job_id, *connection]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["10", "20", "30"]
    assert lines[0].split()[2].endswith(":ckpt-step-10")


def test_events_and_checkpoints_walk_every_page(server: ScriptedServer, tmp_path: Path) -> None:
    server.finetune.script.polls_to_finish = 150  # more than one page of 100
    client = ft.connect("openai", server.url, environ={})
    file_id = ft.upload(client, write_jsonl(tmp_path / "t.jsonl", [SFT_ROW]), poll_s=0)
    job = ft.create_job(client, ft.JobSpec("sft", "gpt-4.1-mini"), file_id, None)
    for _ in range(120):
        ft.retrieve(client, job.id)
    steps = [c.step for c in ft.checkpoints(client, job.id)]
    assert steps == list(range(10, 1210, 10))
    assert len(ft.events(client, job.id)) == 2 + 120


# -- the pieces --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "row", "expected"),
    [
        (
            "dpo",
            {**DPO_ROW, "non_preferred_output": DPO_ROW["preferred_output"]},
            "teaches nothing",
        ),
        ("dpo", {**DPO_ROW, "preferred_output": [{"role": "user", "content": "x"}]}, "'assistant'"),
        ("sft", {"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
        (
            "sft",
            {"messages": [{"role": "bot", "content": "hi"}, SFT_ROW["messages"][2]]},
            "[0].role: expected one of",
        ),
        ("reinforcement", {"messages": [{"role": "system", "content": "x"}]}, "no user message"),
        ("dpo", [1, 2], "expected a JSON object"),
    ],
)
def test_shape_problems_name_the_line(tmp_path: Path, method: Any, row: Any, expected: str) -> None:
    good = dpo_rows() if method == "dpo" else sft_rows()
    path = write_jsonl(tmp_path / "rows.jsonl", [*good, row])
    problems = check_file(path, method)
    assert problems and all(p.startswith(f"{path}:11: ") for p in problems)
    assert any(expected in p for p in problems)


def test_an_empty_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n", encoding="utf-8")
    assert (
        f"{path}: no rows; expected one JSON object a line: "
        + '{"messages": [..., {"role": "assistant", "content": ...}]}'
    ) in check_file(path, "sft")


def test_an_alias_in_an_inline_table_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "deltajudge.toml"
    before = 'models = { candidate = { model = "x" } }\n'
    path.write_text(before, encoding="utf-8")
    with pytest.raises(ConfigError, match="form this command does not edit"):
        write_alias(path, False, "candidate", {"model": "ft:y"})
    assert path.read_text(encoding="utf-8") == before


# -- ftjob:<job id>[@<step>] as a model --------------------------------------------------


def finished_job(server: ScriptedServer, tmp_path: Path, **hyper: Any) -> str:
    client = ft.connect("openai", server.url, environ={})
    file_id = ft.upload(client, write_jsonl(tmp_path / "train.jsonl", [DPO_ROW]), poll_s=0)
    spec = ft.JobSpec("dpo", "base-m", hyperparameters=hyper, suffix="vibes")
    job = ft.create_job(client, spec, file_id, None)
    while not ft.retrieve(client, job.id).ended:
        pass
    return job.id


def test_a_job_and_its_checkpoint_resolve_at_collection(
    server: ScriptedServer, tmp_path: Path
) -> None:
    job_id = finished_job(server, tmp_path, beta=0.1, n_epochs=2)
    settings = Settings.model_validate(
        {
            "models": {
                "final": {"model": f"ftjob:{job_id}", "base_url": server.url},
                "step20": {"model": f"ftjob:{job_id}@20", "base_url": server.url},
            }
        }
    )
    resolved = resolve_models(settings, ["final", "step20"], {})
    assert resolved["final"].model == f"ft:base-m:scripted:vibes:{job_id}"
    assert resolved["step20"].model == f"ft:base-m:scripted:vibes:{job_id}:ckpt-step-20"
    assert resolved["step20"].label == (
        f"fine-tune {job_id}@20: dpo on base-m, beta=0.1 n_epochs=2, 12345 trained tokens"
    )


def test_an_unfinished_job_or_a_missing_step_fails_naming_the_alias(
    server: ScriptedServer, tmp_path: Path
) -> None:
    job_id = finished_job(server, tmp_path)
    client = ft.connect("openai", server.url, environ={})
    running = ft.create_job(client, ft.JobSpec("sft", "base-m"), "file-1", None).id
    models = {
        "busy": {"model": f"ftjob:{running}", "base_url": server.url},
        "gone": {"model": f"ftjob:{job_id}@25", "base_url": server.url},
        "nojob": {"model": "ftjob:ftjob-nope", "base_url": server.url},
    }
    settings = Settings.model_validate({"models": models})
    with pytest.raises(
        ConfigError, match=f"models.busy.model: job {running} is running, so it has no model yet"
    ):
        resolve_models(settings, ["busy"], {})
    with pytest.raises(ConfigError, match=r"no checkpoint at step 25 \(steps: 10, 20, 30\)"):
        resolve_models(settings, ["gone"], {})
    with pytest.raises(ConfigError, match="HTTP 404: Could not find fine-tuning job ftjob-nope"):
        resolve_models(settings, ["nojob"], {})


def test_a_run_evaluates_a_checkpoint_and_the_report_names_the_job(
    project: Project, tmp_path: Path
) -> None:
    job_id = finished_job(project.server, tmp_path, beta=0.2)
    checkpoint = f"ft:base-m:scripted:vibes:{job_id}:ckpt-step-10"
    project.server.set_rules(scores_by_marker({"[base-m]": 1, f"[{checkpoint}]": 3}))
    project.write(models={"cand": {"model": f"ftjob:{job_id}@10"}})

    project.run().assert_outcomes(passed=3)

    cand = project.report()["models"]["cand"]
    assert cand["model"] == checkpoint
    assert cand["label"].startswith(f"fine-tune {job_id}@10: dpo on base-m, beta=0.2")
    assert project.rubric_report()["comparisons"][0]["mean_delta"] == 2.0


def test_ctrl_c_stops_watching_and_leaves_the_job_running(
    server: ScriptedServer, tmp_path: Path
) -> None:
    server.finetune.script.polls_to_finish = 1000
    client = ft.connect("openai", server.url, environ={})
    file_id = ft.upload(client, write_jsonl(tmp_path / "train.jsonl", [SFT_ROW]), poll_s=0)
    job_id = ft.create_job(client, ft.JobSpec("sft", "base-m"), file_id, None).id
    command = [sys.executable, "-m", "deltajudge.cli", *watch_args(server, job_id)]
    command[command.index("--interval") + 1] = "30"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == f"{job_id}: running"
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 130, err
    assert f"{job_id} keeps running" in out
    assert ft.retrieve(client, job_id).status == "running"
    assert not (tmp_path / "deltajudge.toml").exists()


def test_reinforcement_grader_from_a_rubric_uses_the_configs_model_ids(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write()
    monkeypatch.chdir(project.path)
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}]} for i in range(10)]
    train = write_jsonl(project.path / "train.jsonl", rows)
    args = ["finetune", "create", "--provider", "openai", "--base-url", project.server.url]
    args += ["--method", "reinforcement", "--model", "o4-mini", "--train", str(train)]
    assert main([*args, "--grader", "rubrics/demo.yaml", "--interval", "0"]) == 0
    grader = project.server.finetune.created[0]["method"]["reinforcement"]["grader"]
    assert (grader["type"], grader["name"], grader["model"]) == (
        "score_model",
        "quality",
        "judge-m",
    )
    assert grader["range"] == [0, 4]


def test_watch_on_azure_writes_an_azure_alias(
    server: ScriptedServer, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(workdir / "train.jsonl", sft_rows())
    connection = ["--provider", "azure", "--base-url", server.base_url]
    create = ["finetune", "create", *connection, "--method", "sft", "--model", "base-m"]
    assert main([*create, "--train", str(train), "--interval", "0"]) == 0
    job_id = next(iter(server.finetune.jobs))
    assert main(["finetune", "watch", job_id, *connection, "--interval", "0"]) == 0
    assert "deploy the fine-tuned model" in capsys.readouterr().out
    table = tomllib.loads((workdir / "deltajudge.toml").read_text(encoding="utf-8"))
    assert table["models"]["candidate"] == {
        "model": f"ft:base-m:scripted:scripted:{job_id}",
        "provider": "azure",
        "api_key_env": "AZURE_OPENAI_API_KEY",
        "base_url": server.base_url,
    }
    assert all(r.path.startswith("/openai/v1/") for r in server.requests)


def test_checkpoints_as_aliases_sweep_in_one_run(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job_id = finished_job(project.server, tmp_path, beta=0.1)
    project.write(rubric=rubric_text(models=("base", "step_10", "step_30")))
    monkeypatch.chdir(project.path)
    connection = ["--provider", "openai", "--base-url", project.server.url]
    assert main(["finetune", "checkpoints", job_id, *connection, "--alias-prefix", "step_"]) == 0
    table = tomllib.loads((project.path / "deltajudge.toml").read_text(encoding="utf-8"))
    assert table["models"]["step_20"] == {
        "model": f"ftjob:{job_id}@20",
        "base_url": project.server.url,
    }
    prefix = f"ft:base-m:scripted:vibes:{job_id}:ckpt-step-"
    project.server.set_rules(
        scores_by_marker({"[base-m]": 1, f"[{prefix}10]": 2, f"[{prefix}30]": 4})
    )

    project.run().assert_outcomes(passed=3)

    models = project.report()["models"]
    assert models["step_30"]["model"] == f"{prefix}30"
    assert models["step_10"]["label"].startswith(f"fine-tune {job_id}@10: dpo on base-m")
    deltas = {c["candidate"]: c["mean_delta"] for c in project.rubric_report()["comparisons"]}
    assert deltas == {"step_10": 1.0, "step_30": 3.0}
