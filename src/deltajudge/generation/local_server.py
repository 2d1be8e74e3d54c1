"""Serve local GGUF models over the OpenAI protocol on loopback, one process per model file.

A ``provider = "local"`` model is not called in-process: `LocalServerPool` starts
``llama_cpp.server`` (llama-cpp-python's OpenAI-compatible server) on ``127.0.0.1`` and hands
back a ``base_url``, so local models take exactly the code path of every remote endpoint
(the same client, cache, retries and concurrency limits). Model loading happens before the
server listens, so "answers ``GET /v1/models``" means "ready".

Settings chosen for the server, and why:

* ``logits_all`` is off unless a spec asks for ``logprobs``. llama-cpp-python's server turns
  it on by default, which computes the 262,144-way output layer for every *prompt* token:
  with Gemma 3 that measured 2.3 GB RSS instead of 0.45 GB and twice the prompt time.
* ``interrupt_requests`` is off: when on, a *streamed* answer is cut short (and still ends
  with ``[DONE]``) as soon as another request queues up — a silently truncated sample.
* ``use_mlock`` is off (the default pins all weights in RAM and warns under low ulimits);
  ``n_threads_batch`` follows ``n_threads``. The server handles one request at a time, so
  client-side concurrency above 1 only queues requests there.
* The child's environment loses every variable the server would read as a setting
  (``PORT``, ``HOST``, ``API_KEY``, ``MODEL``, ``CONFIG_FILE``, …: pydantic-settings reads
  them case-insensitively and ``PORT``/``HOST`` even override the command line), so a
  user's shell cannot redirect or lock our server. (Our readiness probe also ignores
  ``HTTP_PROXY``; an HTTP client talking to the returned URL must do the same, since
  proxies from the environment are not bypassed for 127.0.0.1 unless ``NO_PROXY`` says so.)

Process lifetime — what is guaranteed and what is not (POSIX only):

* Each server runs in its own session and process group, so a terminal's Ctrl-C reaches only
  the parent, and `close` can stop the server with everything it spawned: ``SIGTERM`` to the
  group, up to 5 s grace, then ``SIGKILL``.
* `close` runs on ``with`` exit — including ``KeyboardInterrupt`` and other exceptions —,
  when the pool is garbage-collected, and at interpreter exit (``weakref.finalize`` registers
  with ``atexit``). A process forked from the owner (``multiprocessing`` with ``fork``) never
  stops the owner's servers.
* A parent that dies without running Python's exit handlers (``SIGKILL``, an unhandled
  ``SIGTERM``, ``os._exit``, a segfault) cannot clean up after itself. For that case the
  child runs a watchdog thread that kills its own process group within about half a second
  once its parent process is gone (it watches ``os.getppid()``). We do not use
  ``prctl(PR_SET_PDEATHSIG)``: it fires when the *thread* that started the child exits, so a
  pool used from a worker thread would lose its servers when that thread ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from deltajudge.errors import LocalServerError
from deltajudge.generation.local_model import embedded_model_path
from deltajudge.generation.local_process import (
    HOST,
    cpu_count,
    log_tail,
    probe,
    spawn,
    stop_processes,
)
from deltajudge.generation.local_process import free_port as _free_port  # tests swap it

__all__ = [
    "GGUF_MAGIC",
    "LocalServerInfo",
    "LocalServerPool",
    "LocalServerSpec",
    "embedded_model_path",
]

#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"

_PROBE_TIMEOUT_S = 2.0
_POLL_FIRST_S = 0.02
_POLL_MAX_S = 0.25
_PORT_IN_USE = "address already in use"


@dataclass(frozen=True)
class LocalServerSpec:
    """How to serve one GGUF model file.

    The pool keys servers on the whole normalised spec (resolved path, ``n_ctx``,
    ``n_threads``, ``chat_format``, ``logprobs``): aliases that share a file *and* these
    settings share one process; the same file with, say, another ``chat_format`` needs a
    second process, because these are load-time settings of the server.
    """

    model_path: Path
    #: Context window in tokens (prompt + answer). 0 means the model's trained maximum
    #: (32,768 for Gemma 3 270M), which costs far more memory.
    n_ctx: int = 2048
    #: CPU threads for prompt and generation; None means every CPU this process may use.
    n_threads: int | None = None
    #: llama-cpp-python chat format for ``/v1/chat/completions``; None uses the template in
    #: the GGUF file, or ``llama-2`` when it has none — as with the embedded model, whose
    #: ``gemma`` format drops system messages. The embedded model is a *pretrained* model:
    #: prompt it through ``/v1/completions`` with a few examples, not through chat.
    chat_format: str | None = None
    #: Serve ``logprobs``/``top_logprobs`` (needs ``logits_all``: more memory, slower prompts).
    #: Without it, a request asking for logprobs gets HTTP 500, which clients retry.
    logprobs: bool = False


@dataclass(frozen=True)
class LocalServerInfo:
    """A running server, as the pool reports it (for logs, diagnostics and tests)."""

    base_url: str
    pid: int
    log_path: Path
    aliases: frozenset[str]
    spec: LocalServerSpec


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    spec: LocalServerSpec
    aliases: set[str] = field(default_factory=set)


class _PortTaken(Exception):
    """The port we picked was taken before the server bound it; retry on another."""


class _PoolState:
    """What `close` needs, held apart from the pool so ``weakref.finalize`` can own it."""

    def __init__(self) -> None:
        self.owner_pid = os.getpid()
        self.servers: dict[LocalServerSpec, _Server] = {}
        self.temp_log_dir: Path | None = None

    def stop(self) -> None:
        if os.getpid() != self.owner_pid:
            return  # a forked copy of the pool: those servers are not ours to stop
        processes = [server.process for server in self.servers.values()]
        self.servers.clear()
        stop_processes(processes)
        if self.temp_log_dir is not None:
            shutil.rmtree(self.temp_log_dir, ignore_errors=True)
            self.temp_log_dir = None


class LocalServerPool:
    """Starts at most one llama_cpp.server process per model file, shared by every alias
    using it; stops them all on close().

    `ensure` is blocking and thread-safe; call it before the event loop needs the URL (or
    from ``asyncio.to_thread``). Use the pool as a context manager so Ctrl-C and errors stop
    the servers; see the module docstring for what happens when that is not possible.
    """

    def __init__(self, *, startup_timeout_s: float = 60.0, log_dir: Path | None = None) -> None:
        self._startup_timeout_s = startup_timeout_s
        self._log_dir = log_dir
        self._lock = threading.Lock()
        self._state = _PoolState()
        self._finalizer = weakref.finalize(self, self._state.stop)

    def ensure(self, spec: LocalServerSpec, *, alias: str) -> str:
        """Return ``http://127.0.0.1:PORT/v1`` for ``spec``, starting its server if needed.

        Raises `LocalServerError` naming ``alias`` when the file is missing or not GGUF
        (before anything starts), or when the server exits or stays silent for
        ``startup_timeout_s`` (with the end of its log). A server that died since it was
        started is started again.
        """
        key = _normalise(spec, alias)
        with self._lock:
            server = self._state.servers.get(key)
            if server is not None and server.process.poll() is None:
                server.aliases.add(alias)
                return server.base_url
            if server is not None:
                del self._state.servers[key]
            server = self._start(key, alias)
            self._state.servers[key] = server
            return server.base_url

    def servers(self) -> tuple[LocalServerInfo, ...]:
        """The servers this pool has started and not stopped yet."""
        with self._lock:
            return tuple(
                LocalServerInfo(s.base_url, s.process.pid, s.log_path, frozenset(s.aliases), key)
                for key, s in self._state.servers.items()
            )

    def close(self) -> None:
        """Stop every server (SIGTERM, ~5 s grace, SIGKILL) and wait for them. Idempotent."""
        with self._lock:
            self._state.stop()

    def __enter__(self) -> LocalServerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- starting -------------------------------------------------------------------------

    def _start(self, spec: LocalServerSpec, alias: str) -> _Server:
        for _attempt in range(2):  # the free port we picked can be taken before the bind
            port = _free_port()
            try:
                log_path = self._new_log_path(spec, port)
                process = spawn(_server_args(spec, port), log_path)
            except OSError as exc:  # unwritable log folder, no Python executable, …
                raise LocalServerError(
                    f"local model {alias!r}: cannot start the llama.cpp server: {exc}"
                ) from exc
            try:
                self._wait_until_ready(process, port, log_path, spec, alias)
            except _PortTaken:
                stop_processes([process])
                continue
            except BaseException:  # timeout, crash, Ctrl-C: never leave it running
                stop_processes([process])
                raise
            return _Server(process, f"http://{HOST}:{port}/v1", log_path, spec, {alias})
        raise LocalServerError(
            f"local model {alias!r}: two free ports were taken by other programs before the "
            f"server could bind them; see {log_path}"
        )

    def _new_log_path(self, spec: LocalServerSpec, port: int) -> Path:
        log_dir = self._log_dir
        if log_dir is None:
            if self._state.temp_log_dir is None:
                self._state.temp_log_dir = Path(tempfile.mkdtemp(prefix="deltajudge-llama-"))
            log_dir = self._state.temp_log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        return log_dir / f"llama-server-{spec.model_path.stem}-{port}.log"

    def _wait_until_ready(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        spec: LocalServerSpec,
        alias: str,
    ) -> None:
        what = f"local model {alias!r} ({spec.model_path})"
        url = f"http://{HOST}:{port}/v1/models"
        deadline = time.monotonic() + self._startup_timeout_s
        delay = _POLL_FIRST_S
        last_problem = "no answer yet"
        while (remaining := deadline - time.monotonic()) > 0:
            code = process.poll()
            if code is not None:
                tail = log_tail(log_path)
                if _PORT_IN_USE in tail.lower():
                    raise _PortTaken
                raise LocalServerError(
                    f"{what}: the llama.cpp server exited with code {code} before it was "
                    f"ready. Last lines of {log_path}:\n{tail}"
                )
            problem = probe(url, timeout_s=min(remaining, _PROBE_TIMEOUT_S))
            if problem is None:
                return
            last_problem = problem
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, _POLL_MAX_S)
        raise LocalServerError(
            f"{what}: the llama.cpp server did not answer GET /v1/models within "
            f"{self._startup_timeout_s:g} s ({last_problem}). Last lines of {log_path}:\n"
            f"{log_tail(log_path)}"
        )


# -- helpers -------------------------------------------------------------------------------


def _normalise(spec: LocalServerSpec, alias: str) -> LocalServerSpec:
    """Check the spec without starting anything; return it with the path and threads fixed."""
    path = check_model_file(Path(spec.model_path), alias)
    what = f"local model {alias!r}"
    if spec.n_ctx < 0:
        raise LocalServerError(f"{what}: n_ctx must be 0 (model maximum) or more, not {spec.n_ctx}")
    if spec.n_threads is not None and spec.n_threads < 1:
        raise LocalServerError(f"{what}: n_threads must be at least 1, not {spec.n_threads}")
    return replace(spec, model_path=path.resolve(), n_threads=spec.n_threads or cpu_count())


def check_model_file(model_path: Path, alias: str) -> Path:
    """A readable GGUF file, or a `LocalServerError` naming the alias: also run at
    collection, so a wrong ``model_path`` fails before any other model is called."""
    path = model_path.expanduser()
    what = f"local model {alias!r}"
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise LocalServerError(f"{what}: the model file {path} {problem}")
    try:
        with path.open("rb") as model_file:
            magic = model_file.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LocalServerError(f"{what}: cannot read the model file {path}: {exc}") from exc
    if magic != GGUF_MAGIC:
        raise LocalServerError(
            f"{what}: {path} is not a GGUF file (it starts with {magic!r}, expected "
            f"{GGUF_MAGIC!r}); llama.cpp serves .gguf files — convert other formats with "
            "llama.cpp's convert_hf_to_gguf.py"
        )
    return path


def _server_args(spec: LocalServerSpec, port: int) -> list[str]:
    threads = str(spec.n_threads or cpu_count())
    args = [
        "--model", str(spec.model_path),
        "--host", HOST,
        "--port", str(port),
        "--n_ctx", str(spec.n_ctx),
        "--n_threads", threads,
        "--n_threads_batch", threads,
        "--logits_all", str(spec.logprobs).lower(),
        "--interrupt_requests", "false",
        "--use_mlock", "false",
        "--verbose", "false",
    ]  # fmt: skip
    if spec.chat_format is not None:
        args += ["--chat_format", spec.chat_format]
    return args
