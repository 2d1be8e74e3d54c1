"""The exception tree.

Every error a user can cause by their own files or options is a `UserInputError`
carrying a location (``path:line:col``) and a hint, so the pytest shell can print it
like a compiler does instead of a traceback. Errors from endpoints are
`GenerationError`/`GradingError` and end up *on the case* (shown in the item and the
report), never as a silent score of zero.
"""

from __future__ import annotations

from pathlib import Path

from deltajudge.redaction import scrub


class DeltajudgeError(Exception):
    """Base class: anything deltajudge raises on purpose."""


class UserInputError(DeltajudgeError):
    """A mistake in a file or option the user wrote: config, rubric, data set, CLI."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self.render())

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        parts = [str(self.path)]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\nHint: {self.hint}"
        return text


class ConfigError(UserInputError):
    """Bad `[tool.deltajudge]`, `deltajudge.toml`, or `--dj-*` option."""


class DatasetError(UserInputError):
    """A data set file that cannot be read as cases."""


class RubricError(UserInputError):
    """A rubric file that does not match the schema, or a template that cannot render."""


class CallError(DeltajudgeError):
    """A model call failed. Never cached.

    The flags say what the failure means for the next attempt: ``transient`` failures
    (a 429, a 5xx, a dropped connection, an unusable body) are retried; an
    ``endpoint_fault`` (cannot connect, timed out, unauthorised) counts towards marking
    the whole endpoint down; ``throttled`` (a 429) makes the endpoint's concurrency back
    off; ``retry_after`` is the server's own wait, in seconds, when it sent one.

    The message usually quotes the endpoint (its error body, its URL), so it is scrubbed
    here, once for every way a call can fail: no API key or ``user:password`` echoed by a
    server, and no terminal control characters, reach a case, a report or the console.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        endpoint_fault: bool = False,
        throttled: bool = False,
        retry_after: float | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(scrub(message))
        self.transient = transient
        self.endpoint_fault = endpoint_fault
        self.throttled = throttled
        self.retry_after = retry_after
        #: One such failure is enough to mark the endpoint down (a rejected API key).
        self.fatal = fatal


class EndpointDown(CallError):
    """Not run: the endpoint was marked down (it died, is unreachable, or rejects the key).
    The cause is said once, in the run's summary, not on each of a thousand cases."""


class GenerationError(CallError):
    """The model under test could not produce an answer."""


class GradingError(CallError):
    """The judge could not produce a usable score (no score, out of range, refused)."""


class OfflineMiss(CallError):
    """``--dj-offline`` and the cache has no answer for this request."""


class LocalServerError(DeltajudgeError):
    """The embedded llama.cpp server could not be started or did not answer."""


class BudgetError(UserInputError):
    """The run is estimated above its spending cap: refused before any call is made."""
