"""The embedded llama.cpp server, for real: start, answer, share, fail clearly, leave no orphans.

These tests load the embedded Gemma 3 270M model (installed with ``.[local]``); one module-wide
pool serves the tests that only need *a* running server, and the lifecycle tests start their
own. Every wait here is bounded, so a broken server fails a test instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import deltajudge
from deltajudge.errors import LocalServerError
from deltajudge.generation import local_server
from deltajudge.generation.local_model import embedded_model_path
from deltajudge.generation.local_server import (
    GGUF_MAGIC,
    LocalServerPool,
    LocalServerSpec,
)

GONE_WITHIN_S = 10.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- helpers -------------------------------------------------------------------------------


def _get(url: str) -> Any:
    with _NO_PROXY.open(url, timeout=30) as response:
        return json.load(response)


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with _NO_PROXY.open(request, timeout=60) as response:
        return json.load(response)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, not yet reaped by init) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_gone(pid: int, timeout_s: float = GONE_WITHIN_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _server_children() -> set[int]:
    """PIDs of llama.cpp servers that are children of this test process."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and b"xllamacpp" in cmdline and _alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """One line of the child's stdout, or fail the test (never block forever)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        process.kill()
        pytest.fail(f"no output within {timeout_s} s")
    return process.stdout.readline().strip()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_path() -> Path:
    return embedded_model_path()


@pytest.fixture(scope="module")
def shared_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerPool]:
    with LocalServerPool(log_dir=tmp_path_factory.mktemp("llama-logs")) as pool:
        yield pool


@pytest.fixture(scope="module")
def shared_url(shared_pool: LocalServerPool, model_path: Path) -> str:
    return shared_pool.ensure(LocalServerSpec(model_path), alias="embedded")


# -- a running server ----------------------------------------------------------------------


def test_embedded_model_is_a_verified_gguf_file(model_path: Path) -> None:
    assert model_path.is_file()
    assert model_path.read_bytes()[:4] == GGUF_MAGIC
    assert embedded_model_path() == model_path  # memoised, same file


def test_server_lists_the_model_and_completes(shared_url: str) -> None:
    assert shared_url.startswith("http://127.0.0.1:") and shared_url.endswith("/v1")
    models = _get(f"{shared_url}/models")
    assert models["object"] == "list" and len(models["data"]) == 1

    completion = _post(
        f"{shared_url}/completions",
        {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0},
    )
    assert isinstance(completion["choices"][0]["text"], str)
    assert completion["usage"]["completion_tokens"] >= 1


def test_aliases_of_one_model_file_share_one_process(
    shared_pool: LocalServerPool, shared_url: str, model_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "same-model.gguf"
    link.symlink_to(model_path)  # another spelling of the same file

    assert shared_pool.ensure(LocalServerSpec(model_path), alias="second") == shared_url
    assert shared_pool.ensure(LocalServerSpec(link), alias="third") == shared_url
    (server,) = shared_pool.servers()
    assert server.aliases >= {"embedded", "second", "third"}
    assert _alive(server.pid)


# -- validation happens before anything starts ---------------------------------------------


def test_missing_model_file_fails_fast_naming_alias_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    pool = LocalServerPool()
    started = time.monotonic()
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(missing), alias="ghost")
    assert time.monotonic() - started < 1.0
    assert "'ghost'" in str(excinfo.value) and str(missing) in str(excinfo.value)
    assert "does not exist" in str(excinfo.value)
    assert pool.servers() == ()


def test_non_gguf_file_fails_fast_naming_alias_and_path(tmp_path: Path) -> None:
    text_file = tmp_path / "model.gguf"
    text_file.write_text("this is not a model\n")
    pool = LocalServerPool()
    before = _server_children()
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(text_file), alias="texty")
    message = str(excinfo.value)
    assert "'texty'" in message and str(text_file) in message and "not a GGUF file" in message
    assert pool.servers() == () and _server_children() <= before


# -- failures while starting: prompt, explained, nothing left behind -----------------------


def test_startup_timeout_reports_log_and_leaves_no_process(
    model_path: Path, tmp_path: Path
) -> None:
    before = _server_children()
    pool = LocalServerPool(startup_timeout_s=0.01, log_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(model_path), alias="slowpoke")
    assert time.monotonic() - started < 8.0  # the timeout plus at most the stop grace
    message = str(excinfo.value)
    assert "'slowpoke'" in message and "within 0.01 s" in message and "Last lines of" in message
    assert pool.servers() == () and _server_children() <= before


def test_garbage_gguf_reports_the_servers_error(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.gguf"
    garbage.write_bytes(GGUF_MAGIC + os.urandom(4096))
    before = _server_children()
    pool = LocalServerPool(startup_timeout_s=60, log_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(garbage), alias="broken")
    assert time.monotonic() - started < 30.0
    message = str(excinfo.value)
    assert "'broken'" in message and "refused to start" in message
    assert "failed to load model" in message  # the server's own words, from its log
    assert _server_children() <= before


def test_two_servers_started_at_once_get_ports_of_their_own(
    model_path: Path, tmp_path: Path
) -> None:
    """Port 0: the kernel picks each port at bind time, so nothing can race us to it."""
    with LocalServerPool(log_dir=tmp_path) as pool:
        first = pool.ensure(LocalServerSpec(model_path, n_parallel=1), alias="one")
        second = pool.ensure(LocalServerSpec(model_path, n_parallel=2), alias="two")
        assert first != second
        assert len(pool.servers()) == 2
        for url in (first, second):
            assert _get(f"{url}/models")["object"] == "list"


def test_slots_decode_in_parallel_and_logprobs_need_no_second_server(shared_url: str) -> None:
    """Continuous batching over n_parallel slots, and top-n logprobs for generated tokens
    from the same server that generates."""
    completion = _post(
        f"{shared_url}/completions",
        {"prompt": "Score from 0 to 4: ", "max_tokens": 1, "temperature": 0, "logprobs": 5},
    )
    tokens = completion["choices"][0]["logprobs"]["content"]
    assert len(tokens) == 1 and len(tokens[0]["top_logprobs"]) == 5


def test_a_server_that_dies_is_reported_with_its_signal_and_log(
    model_path: Path, tmp_path: Path
) -> None:
    with LocalServerPool(log_dir=tmp_path) as pool:
        url = pool.ensure(LocalServerSpec(model_path), alias="fragile")
        assert pool.exit_report(url) is None
        (server,) = pool.servers()
        os.kill(server.pid, signal.SIGILL)
        deadline = time.monotonic() + GONE_WITHIN_S
        while (report := pool.exit_report(url)) is None:
            assert time.monotonic() < deadline, "the death was not noticed"
            time.sleep(0.05)
    assert "fragile" in report and "SIGILL: illegal instruction" in report
    assert "Last lines of" in report and "Hint:" in report and "-march=native" in report


def test_unknown_chat_format_fails_before_anything_starts(model_path: Path) -> None:
    pool = LocalServerPool()
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(model_path, chat_format="chatlm"), alias="typo")
    message = str(excinfo.value)
    assert "'typo'" in message and "unknown chat_format 'chatlm'" in message and "chatml" in message
    assert pool.servers() == ()


def test_n_ctx_above_the_models_maximum_is_refused(model_path: Path, tmp_path: Path) -> None:
    pool = LocalServerPool(log_dir=tmp_path)
    with pytest.raises(LocalServerError) as excinfo:
        pool.ensure(LocalServerSpec(model_path, n_ctx=65_536, n_parallel=1), alias="greedy")
    message = str(excinfo.value)
    assert "'greedy'" in message and "n_ctx 65536 is above the 32768 tokens" in message
    assert pool.servers() == ()


def test_ctrl_c_while_starting_stops_the_half_started_server(
    model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(url: str, *, timeout_s: float, body: object = None) -> str | None:
        raise KeyboardInterrupt

    monkeypatch.setattr(local_server, "probe", interrupted)
    before = _server_children()
    pool = LocalServerPool()
    with pytest.raises(KeyboardInterrupt):
        pool.ensure(LocalServerSpec(model_path), alias="impatient")
    assert pool.servers() == () and _server_children() <= before


# -- lifecycle -----------------------------------------------------------------------------


def test_close_stops_the_server_and_is_idempotent(model_path: Path) -> None:
    pool = LocalServerPool()
    pool.ensure(LocalServerSpec(model_path), alias="short-lived")
    (server,) = pool.servers()
    pool.close()
    assert not _alive(server.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)  # reaped too, not just dead
    assert not server.log_path.parent.exists()  # the pool's own temporary log folder
    pool.close()
    assert pool.servers() == ()


def test_a_server_that_died_is_started_again(model_path: Path) -> None:
    with LocalServerPool() as pool:
        pool.ensure(LocalServerSpec(model_path), alias="phoenix")
        (server,) = pool.servers()
        os.killpg(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + GONE_WITHIN_S
        # WNOWAIT: see that it exited (all threads) without reaping it, which is the pool's job
        while os.waitid(os.P_PID, server.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            assert time.monotonic() < deadline, "SIGKILL did not end the server"
            time.sleep(0.02)
        url = pool.ensure(LocalServerSpec(model_path), alias="phoenix")
        (restarted,) = pool.servers()
        assert restarted.pid != server.pid and restarted.base_url == url
        assert _get(f"{url}/models")["object"] == "list"


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from deltajudge.generation.local_server import LocalServerPool, LocalServerSpec

    pool = LocalServerPool(log_dir=Path(sys.argv[3]))  # no `with`: exit handlers must clean up
    pool.ensure(LocalServerSpec(Path(sys.argv[1])), alias="orphan-check")
    print(pool.servers()[0].pid, flush=True)  # the test signals us once it reads this
    if sys.argv[2] == "raise":
        raise RuntimeError("boom")
    if sys.argv[2] == "wait":
        time.sleep(120)
    """
)


@pytest.mark.parametrize(
    ("ending", "how"),
    [
        ("exit", "returns normally"),  # weakref.finalize at interpreter exit
        ("raise", "dies of an exception"),  # ditto, after the traceback
        ("wait", signal.SIGINT),  # KeyboardInterrupt, then the same exit handlers
        ("wait", signal.SIGTERM),  # no Python handler runs: the child's watchdog acts
        ("wait", signal.SIGKILL),  # ditto
    ],
    ids=["exit", "exception", "sigint", "sigterm", "sigkill"],
)
def test_no_orphan_when_the_parent_ends(
    model_path: Path, tmp_path: Path, ending: str, how: str | signal.Signals
) -> None:
    package_root = str(Path(deltajudge.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_SCRIPT)
    with (tmp_path / "parent.stderr").open("w") as stderr:
        parent = subprocess.Popen(
            [sys.executable, str(script), str(model_path), ending, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    try:
        server_pid = int(_read_line(parent, timeout_s=60))
        if ending == "wait":  # the others may already be cleaning up: no race to lose
            assert _alive(server_pid)
        if isinstance(how, signal.Signals):
            parent.send_signal(how)
        parent.wait(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        assert parent.stdout is not None
        parent.stdout.close()
    if how not in (signal.SIGTERM, signal.SIGKILL):
        # the exit handlers stop and reap the server before the parent finishes exiting
        assert not _alive(server_pid), f"server {server_pid} outlived its parent ({ending})"
    gone = _wait_gone(server_pid)
    if not gone:  # do not leave it behind for the rest of the suite
        os.killpg(server_pid, signal.SIGKILL)
    assert gone, f"server {server_pid} outlived its parent ({ending}, {how})"
