"""The llama.cpp server as an operating-system process: start it, probe it, stop it.

Each server runs in its own session and process group, so a terminal's Ctrl-C reaches
only the parent, and stopping it stops everything it spawned: ``SIGTERM`` to the group,
up to 5 s grace, then ``SIGKILL``. A parent that dies without running its exit handlers
cannot clean up, so the child watches its parent and kills its own group once the parent
is gone (see `CHILD_BOOTSTRAP`).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path

HOST = "127.0.0.1"
LOG_TAIL_LINES = 20
STOP_GRACE_S = 5.0
REAP_TIMEOUT_S = 5.0

# Runs in the child as ``python -c``: argv[1] is our PID, the rest is the server's command
# line. The watchdog thread is what stops an orphan when the parent dies without cleaning up.
CHILD_BOOTSTRAP = """\
import os, runpy, signal, sys, threading, time

parent = int(sys.argv[1])

def watch_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgrp(), signal.SIGKILL)

threading.Thread(target=watch_parent, name="parent-watchdog", daemon=True).start()

from llama_cpp.server.settings import Settings

for name in list(os.environ):
    if name.lower() in Settings.model_fields or name.lower() == "config_file":
        del os.environ[name]
sys.argv = ["llama_cpp.server", *sys.argv[2:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def cpu_count() -> int:
    """CPUs this process may run on (a container's limit, not the host's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(server_args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", CHILD_BOOTSTRAP, str(os.getpid()), *server_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # so the log tail is current on failure
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


def probe(url: str, *, timeout_s: float) -> str | None:
    """None when the server answers 200, else a short description of what went wrong."""
    try:
        with _opener.open(url, timeout=timeout_s) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} from {url}"
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, not HTTP
        return f"{type(exc).__name__}: {exc}"
    return None if status == 200 else f"HTTP {status} from {url}"


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with log_path.open(encoding="utf-8", errors="replace") as log:
            return "".join(deque(log, maxlen=lines)).rstrip() or "(the log is empty)"
    except OSError as exc:
        return f"(cannot read the log: {exc})"


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
