"""Ctrl-C and SIGTERM during a run: stop scheduling, let calls already sent finish for a
moment (so their answers are cached and not paid for again), then stop the rest.

What a user sees: one line, a report marked incomplete that lists the cases not run,
and pytest's exit code 130 (SIGINT) or 143 (SIGTERM), within about `STOP_GRACE_S` plus
the time to write the report. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Iterator
from typing import Any

#: After the first signal, calls already sent get this long to finish and be cached.
STOP_GRACE_S = 1.0

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stop:
    """Whether the run was asked to stop, by which signal, or why (a spending cap)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        #: Why the run stopped early, in words for the report; None while it runs on.
        self.reason: str | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for Ctrl-C); 1 for a run
        cut short for another reason (it is incomplete, so it cannot pass)."""
        if self.signal is not None:
            return 128 + int(self.signal)
        return 1 if self.requested else 0

    def cut_short(self, reason: str) -> None:
        """Start no new case (the cases under way finish): a spending cap was reached."""
        if self.reason is None:
            self.reason = reason

    async def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` until it ends, or until a signal's grace period is over."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(work)
        with self._handlers(loop):
            try:
                await self._task
            except asyncio.CancelledError:
                if not self.requested or not self._task.cancelled():
                    raise

    def _received(self, sig: signal.Signals) -> None:
        assert self._task is not None
        if self.signal is not None:  # the second one: no more waiting
            self._task.cancel()
            return
        self.signal = sig
        self.reason = sig.name
        print(
            f"\ndeltajudge: {sig.name} received: finishing the calls in flight "
            f"(up to {STOP_GRACE_S:g} s), then writing an incomplete report",
            file=sys.stderr,
            flush=True,
        )
        asyncio.get_running_loop().call_later(STOP_GRACE_S, self._task.cancel)

    @contextlib.contextmanager
    def _handlers(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        installed = []
        for sig in _SIGNALS:
            try:
                loop.add_signal_handler(sig, self._received, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
