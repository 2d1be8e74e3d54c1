"""A progress line while the engine runs: rewritten in place on a terminal, a line per
tenth otherwise (CI logs), never more often than ten times a second."""

from __future__ import annotations

import time

import pytest


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

    def __call__(self, done: int, total: int, errors: int) -> None:
        now = time.monotonic()
        tenth = done * 10 // max(total, 1)
        text = progress_text(done, total, errors, now - self._started)
        if self._tty:
            if done == total or now - self._last >= 0.1:
                self._reporter.write(f"\r{text}", flush=True)
                self._last = now
        elif tenth != self._last_tenth:
            self._last_tenth = tenth
            self._reporter.write_line(text)

    def finish(self) -> None:
        if self._tty:
            self._reporter.write_line("")


def progress_text(done: int, total: int, errors: int, elapsed: float) -> str:
    """``12/80 cases, 3.1 cases/s, 0 errors, 3.9 s, ETA 22 s``: the rate and the time left
    come from the cases finished so far (the ETA appears once one has finished)."""
    parts = [f"deltajudge: {done}/{total} cases", f"{errors} with errors", f"{elapsed:.1f} s"]
    if done and elapsed > 0:
        rate = done / elapsed
        parts.insert(1, f"{rate:.1f} cases/s")
        if done < total:
            parts.append(f"ETA {(total - done) / rate:.0f} s")
    return ", ".join(parts)
