"""Serve local GGUF models over the OpenAI protocol on loopback, one process per model file.

A ``provider = "local"`` model is not called in-process: `LocalServerPool` starts
llama.cpp's own C++ server (from the prebuilt, portable ``xllamacpp`` wheel: nothing is
compiled on the user's machine) on ``127.0.0.1`` and hands back a ``base_url``, so local
models take exactly the code path of every remote endpoint (the same client, cache,
retries and concurrency limits).

Settings chosen for the server, and why:

* ``n_parallel`` slots (default 4) with continuous batching: several requests decode in one
  batch, so client concurrency up to the slot count is real throughput, not a queue.
  ``n_ctx`` is per slot (the server is given ``n_ctx * n_parallel``).
* The prompt cache works across requests: a prompt that shares a prefix with a slot's last
  one (a judge's fixed instructions, a few-shot template) reuses its KV cache. Gemma 3's
  sliding-window layers would otherwise drop it (llama.cpp's ``swa_full``).
* Logprobs cost nothing extra: llama.cpp computes top-n alternatives for *generated*
  tokens only, so one server per model file serves generation and logprob judges alike.
* Port 0: the kernel picks the port at bind time and the child reports it, so no other
  program can take a port between our choice and the bind.
* "Ready" means one tiny completion succeeded, not just that the port answers: a server
  whose compute kernels crash (``SIGILL`` on a CPU without an instruction the build
  assumed) fails at start-up, with its exit signal and log, instead of on every case.
* The child's environment loses llama.cpp's ``LLAMA_*`` variables, so a user's shell
  cannot change our server. (Our probes ignore ``HTTP_PROXY``; an HTTP client talking to
  the returned URL must do the same, since proxies from the environment are not bypassed
  for 127.0.0.1 unless ``NO_PROXY`` says so.)

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
* A server that exits while in use is reported by `exit_report` (what died, how, the end
  of its log, a hint), which the caller polls to fail that endpoint's calls at once.
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
from deltajudge.generation.local_checks import (
    CHAT_FORMATS,
    GGUF_MAGIC,
    check_chat_format,
    check_model_file,
)
from deltajudge.generation.local_model import embedded_model_path
from deltajudge.generation.local_process import (
    HOST,
    START_FAILED,
    cpu_count,
    describe_exit,
    exit_hint,
    fetch_json,
    log_tail,
    probe,
    spawn,
    stop_processes,
)

__all__ = [
    "CHAT_FORMATS",
    "GGUF_MAGIC",
    "LocalServerInfo",
    "LocalServerPool",
    "LocalServerSpec",
    "check_model_file",
    "embedded_model_path",
]

_PROBE_TIMEOUT_S = 2.0
#: The first computation can take a while on a slow machine (weights paged in).
_FIRST_COMPLETION_TIMEOUT_S = 30.0
_POLL_FIRST_S = 0.02
_POLL_MAX_S = 0.25


@dataclass(frozen=True)
class LocalServerSpec:
    """How to serve one GGUF model file.

    The pool keys servers on the whole normalised spec (resolved path, ``n_ctx``,
    ``n_parallel``, ``n_threads``, ``chat_format``): aliases that share a file *and* these
    settings share one process; the same file with, say, another ``chat_format`` needs a
    second process, because these are load-time settings of the server.
    """

    model_path: Path
    #: Context window per request slot, in tokens (prompt + answer).
    n_ctx: int = 2048
    #: Request slots decoded together (continuous batching).
    n_parallel: int = 4
    #: CPU threads for prompt and generation; None means every CPU this process may use.
    n_threads: int | None = None
    #: A llama.cpp built-in chat template for ``/v1/chat/completions`` (`CHAT_FORMATS`);
    #: None uses the template in the GGUF file. The embedded model is a *pretrained* model:
    #: prompt it through ``/v1/completions`` with a few examples, not through chat.
    chat_format: str | None = None


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
    """Starts at most one llama.cpp server process per model file and settings, shared by
    every alias using it; stops them all on close().

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

        Raises `LocalServerError` naming ``alias`` when the spec is wrong (before anything
        starts), or when the server exits, cannot compute, or stays silent for
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

    def exit_report(self, base_url: str) -> str | None:
        """None while the server at ``base_url`` runs; once it has exited, one message
        saying which server died, how (exit code or signal), the end of its log and what
        to do. Cheap (a non-blocking ``waitpid``): the caller polls it during a run."""
        server = next((s for s in self._state.servers.values() if s.base_url == base_url), None)
        if server is None:
            return None
        code = server.process.poll()
        if code is None:
            return None
        aliases = ", ".join(sorted(server.aliases))
        return (
            f"the local llama.cpp server for {aliases} ({server.spec.model_path.name}, "
            f"pid {server.process.pid}) died: {describe_exit(code)}. "
            f"Last lines of {server.log_path}:\n{log_tail(server.log_path)}\n"
            f"Hint: {exit_hint(code)}"
        )

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
        log_path = self._new_log_path(spec)
        address_file = log_path.with_suffix(".address")
        try:
            process = spawn(_server_settings(spec), address_file, log_path)
        except OSError as exc:  # unwritable log folder, no Python executable, …
            raise LocalServerError(
                f"local model {alias!r}: cannot start the llama.cpp server: {exc}"
            ) from exc
        try:
            base_url = self._wait_until_ready(process, address_file, log_path, spec, alias)
        except BaseException:  # timeout, crash, Ctrl-C: never leave it running
            stop_processes([process])
            raise
        return _Server(process, base_url, log_path, spec, {alias})

    def _new_log_path(self, spec: LocalServerSpec) -> Path:
        log_dir = self._log_dir
        if log_dir is None:
            if self._state.temp_log_dir is None:
                self._state.temp_log_dir = Path(tempfile.mkdtemp(prefix="deltajudge-llama-"))
            log_dir = self._state.temp_log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f"llama-server-{spec.model_path.stem}-", suffix=".log", dir=log_dir
        )
        os.close(handle)
        return Path(name)

    def _wait_until_ready(
        self,
        process: subprocess.Popen[bytes],
        address_file: Path,
        log_path: Path,
        spec: LocalServerSpec,
        alias: str,
    ) -> str:
        """Wait for the child to report its address, then for one tiny completion."""
        what = f"local model {alias!r} ({spec.model_path})"
        deadline = time.monotonic() + self._startup_timeout_s
        delay = _POLL_FIRST_S
        while (remaining := deadline - time.monotonic()) > 0:
            _raise_if_exited(process, log_path, what)
            if address_file.is_file():
                base = address_file.read_text(encoding="utf-8").strip()
                _first_completion(process, f"{base}/v1/completions", log_path, what)
                _check_context(f"{base}/v1/models", spec, what)
                return f"{base}/v1"
            time.sleep(max(0.0, min(delay, remaining)))
            delay = min(delay * 2, _POLL_MAX_S)
        raise LocalServerError(
            f"{what}: the llama.cpp server did not load the model within "
            f"{self._startup_timeout_s:g} s. Last lines of {log_path}:\n{log_tail(log_path)}"
        )


# -- helpers -------------------------------------------------------------------------------


def _raise_if_exited(process: subprocess.Popen[bytes], log_path: Path, what: str) -> None:
    code = process.poll()
    if code is None:
        return
    tail = log_tail(log_path)
    if START_FAILED in tail:
        raise LocalServerError(
            f"{what}: llama.cpp refused to start the server. Last lines of {log_path}:\n{tail}"
        )
    raise LocalServerError(
        f"{what}: the llama.cpp server died while starting ({describe_exit(code)}). "
        f"Last lines of {log_path}:\n{tail}\nHint: {exit_hint(code)}"
    )


def _first_completion(
    process: subprocess.Popen[bytes], url: str, log_path: Path, what: str
) -> None:
    """One token through the compute kernels: a build that faults on this CPU dies here."""
    problem = probe(
        url,
        timeout_s=_FIRST_COMPLETION_TIMEOUT_S,
        body={"prompt": "Hello", "max_tokens": 1, "temperature": 0},
    )
    if problem is None:
        return
    for _ in range(20):  # a crash closes the connection a moment before the exit is seen
        if process.poll() is not None:
            break
        time.sleep(0.05)
    _raise_if_exited(process, log_path, what)
    raise LocalServerError(
        f"{what}: the llama.cpp server started but could not compute one token ({problem}). "
        f"Last lines of {log_path}:\n{log_tail(log_path)}"
    )


def _check_context(url: str, spec: LocalServerSpec, what: str) -> None:
    """llama.cpp only warns when ``n_ctx`` exceeds what the model was trained on, and the
    answers past that length are garbage: refuse it instead."""
    try:
        meta = fetch_json(url, timeout_s=_PROBE_TIMEOUT_S)["data"][0].get("meta") or {}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return  # an older server without the model's metadata: nothing to check against
    trained = meta.get("n_ctx_train")
    if isinstance(trained, int) and 0 < trained < spec.n_ctx:
        raise LocalServerError(
            f"{what}: n_ctx {spec.n_ctx} is above the {trained} tokens this model was "
            f"trained on; set n_ctx to {trained} or less"
        )


def _normalise(spec: LocalServerSpec, alias: str) -> LocalServerSpec:
    """Check the spec without starting anything; return it with the path and threads fixed."""
    path = check_model_file(Path(spec.model_path), alias)
    what = f"local model {alias!r}"
    if spec.n_ctx < 1:
        raise LocalServerError(f"{what}: n_ctx must be at least 1, not {spec.n_ctx}")
    if spec.n_parallel < 1:
        raise LocalServerError(f"{what}: n_parallel must be at least 1, not {spec.n_parallel}")
    if spec.n_threads is not None and spec.n_threads < 1:
        raise LocalServerError(f"{what}: n_threads must be at least 1, not {spec.n_threads}")
    return replace(
        spec,
        model_path=path.resolve(),
        n_threads=spec.n_threads or cpu_count(),
        chat_format=check_chat_format(spec.chat_format, alias),
    )


def _server_settings(spec: LocalServerSpec) -> dict[str, object]:
    return {
        "model": str(spec.model_path),
        "host": HOST,
        "n_ctx": spec.n_ctx,
        "n_parallel": spec.n_parallel,
        "n_threads": spec.n_threads or cpu_count(),
        "chat_template": spec.chat_format,
    }
