"""A progress line while the engine runs: rewritten in place on a terminal, a line per
tenth otherwise (CI logs), never more often than ten times a second."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from deltajudge.engine import Tick


class ProgressLine:
    def __init__(self, reporter: pytest.TerminalReporter) -> None:
        self._reporter = reporter
        self._tty = reporter.isatty()
        self._last = 0.0
        self._last_tenth = -1
        self._started = time.monotonic()

    @classmethod
    def for_config(cls, config: pytest.Config, enabled: bool) -> ProgressLine | None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if not enabled or reporter is None or config.option.verbose < 0:
            return None
        return cls(reporter)

    def __call__(self, tick: Tick) -> None:
        now = time.monotonic()
        tenth = tick.done * 10 // max(tick.total, 1)
        text = progress_text(tick, now - self._started)
        if self._tty:
            if tick.done == tick.total or now - self._last >= 0.1:
                self._reporter.write(f"\r{text}", flush=True)
                self._last = now
        elif tenth != self._last_tenth:
            self._last_tenth = tenth
            self._reporter.write_line(text)

    def finish(self) -> None:
        if self._tty:
            self._reporter.write_line("")


def progress_text(tick: Tick, elapsed: float) -> str:
    """``20/80 cases, 8.0 calls/s, 80 calls (4 cached), 9,120 tokens, $0.0123, 0 with errors,
    10.0 s, ETA 30 s``: the rates and the time left come from the cases finished so far (the
    ETA appears once one has finished); the money only for aliases with a known price."""
    parts = [f"deltajudge: {tick.done}/{tick.total} cases"]
    if elapsed > 0 and tick.calls:
        parts.append(f"{tick.calls / elapsed:.1f} calls/s")
    parts.append(f"{tick.calls} calls" + (f" ({tick.cached} cached)" if tick.cached else ""))
    parts.append(f"{tick.tokens:,} tokens")
    if tick.cost_usd:
        parts.append(f"${tick.cost_usd:.4f}")
    parts += [f"{tick.errors} with errors", f"{elapsed:.1f} s"]
    if tick.done and elapsed > 0 and tick.done < tick.total:
        parts.append(f"ETA {(tick.total - tick.done) * elapsed / tick.done:.0f} s")
    return ", ".join(parts)
