"""The llama.cpp server as an operating-system process: start it, probe it, stop it.

The server is llama.cpp's own C++ HTTP server (``tools/server``), embedded in the
``xllamacpp`` wheel: prebuilt for portable CPU targets (no ``-march=native``, so no
AVX-512/AMX code paths that fault on some CPUs), nothing compiled on the user's machine.
We still run it in a child process of its own: a crash in native code (``SIGILL``,
``SIGSEGV``) must end that process, never the harness, and must be reported as such.

Each server runs in its own session and process group, so a terminal's Ctrl-C reaches
only the parent, and stopping it stops everything it spawned: ``SIGTERM`` to the group,
up to 5 s grace, then ``SIGKILL``. A parent that dies without running its exit handlers
cannot clean up, so the child watches its parent and kills its own group once the parent
is gone (see `CHILD_BOOTSTRAP`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
LOG_TAIL_LINES = 20
STOP_GRACE_S = 5.0
REAP_TIMEOUT_S = 5.0

#: What the child prints when llama.cpp refuses to start (bad file, bad settings).
START_FAILED = "deltajudge: the llama.cpp server did not start"

# Runs in the child as ``python -c``: argv[1] is our PID, argv[2] the server settings as
# JSON, argv[3] the file the child writes its listening address to once the model is loaded.
# Port 0 lets the kernel pick a free port at bind time, so no other program can take it
# between our choice and the bind. The watchdog thread is what stops an orphan when the
# parent dies without cleaning up. The main thread only sleeps: llama.cpp's HTTP and
# compute threads do the work, and SIGTERM's default action ends the process.
CHILD_BOOTSTRAP = f"""\
import json, os, signal, sys, threading, time

parent = int(sys.argv[1])

def watch_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)

threading.Thread(target=watch_parent, name="parent-watchdog", daemon=True).start()

settings = json.loads(sys.argv[2])
address_file = sys.argv[3]

import xllamacpp

params = xllamacpp.CommonParams()
params.model.path = settings["model"]
params.n_parallel = settings["n_parallel"]
params.n_ctx = settings["n_ctx"] * settings["n_parallel"]  # llama.cpp splits it per slot
params.cpuparams.n_threads = settings["n_threads"]
params.cpuparams_batch.n_threads = settings["n_threads"]
params.hostnames = [settings["host"]]
params.port = 0
# Keep the whole KV cache of sliding-window layers (Gemma 3), so a request that shares a
# prefix with a slot's last prompt (a judge's fixed instructions, a few-shot template)
# reuses it instead of recomputing it: about 8x faster judge calls on 2 cores.
params.swa_full = True
if settings["chat_template"]:
    params.chat_template = settings["chat_template"]
try:
    server = xllamacpp.Server(params)
except RuntimeError as exc:
    print("{START_FAILED}:", exc, flush=True)
    sys.exit(3)
with open(address_file + ".tmp", "w") as out:
    out.write(server.listening_address)
os.replace(address_file + ".tmp", address_file)
while True:
    time.sleep(3600)
"""

#: Environment variables the child drops: llama.cpp's own ``LLAMA_ARG_*`` settings and
#: so that a user's shell cannot change our server.
_DROPPED_ENV_PREFIXES = ("LLAMA_",)


def cpu_count() -> int:
    """CPUs this process may run on (a container's limit, not the host's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def spawn(settings: dict[str, Any], address_file: Path, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        CHILD_BOOTSTRAP,
        str(os.getpid()),
        json.dumps(settings),
        str(address_file),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"  # so the log tail is current on failure
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


# Loopback must never go through an HTTP proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, *, timeout_s: float, body: dict[str, Any] | None = None) -> str | None:
    """None when the server answers 200 (to a GET, or a POST of ``body``), else a short
    description of what went wrong."""
    request = urllib.request.Request(url)
    if body is not None:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            status: int = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} from {url}"
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, not HTTP
        return f"{type(exc).__name__}: {exc}"
    return None if status == 200 else f"HTTP {status} from {url}"


def fetch_json(url: str, *, timeout_s: float) -> Any:
    """GET ``url`` and decode its JSON body (loopback only: no proxy)."""
    with _opener.open(url, timeout=timeout_s) as response:
        return json.load(response)


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with log_path.open(encoding="utf-8", errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).rstrip() or "(the log is empty)"
    except OSError as exc:
        return f"(cannot read the log: {exc})"


def describe_exit(code: int) -> str:
    """``exit code 3`` or ``SIGILL: illegal instruction``: what a person needs to know."""
    if code >= 0:
        return f"exit code {code}"
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"signal {-code}"
    words = (signal.strsignal(sig) or "").lower()
    return f"{sig.name}: {words}" if words else sig.name


def exit_hint(code: int) -> str:
    """What to do about a server that died, by how it died."""
    if code == -signal.SIGILL:
        return (
            "the llama.cpp build uses a CPU instruction this machine does not have: "
            "reinstall the portable wheel (`pip install --force-reinstall --no-cache-dir "
            "xllamacpp`) and do not build llama.cpp with -march=native / GGML_NATIVE"
        )
    if code == -signal.SIGKILL:
        return "it was killed: out of memory (see `dmesg`), or stopped by another program"
    if code == -signal.SIGSEGV or code == -signal.SIGABRT:
        return "llama.cpp crashed: check the model file and n_ctx, and the log above"
    return "see the server's log above"


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:  # once reaped, the group id may belong to someone else
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every group, wait up to `STOP_GRACE_S` in total, SIGKILL what is left."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    try:
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
    finally:  # even when Ctrl-C interrupts the grace period
        for process in processes:
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=REAP_TIMEOUT_S)
