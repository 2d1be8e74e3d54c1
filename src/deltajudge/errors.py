"""The exception tree.

Every error a user can cause by their own files or options is a `UserInputError`
carrying a location (``path:line:col``) and a hint, so the pytest shell can print it
like a compiler does instead of a traceback. Errors from endpoints are
`GenerationError`/`GradingError` and end up *on the case* (shown in the item and the
report), never as a silent score of zero.
"""

from __future__ import annotations

from pathlib import Path


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
    """A model call failed after the client's retries. Never cached."""


class GenerationError(CallError):
    """The model under test could not produce an answer."""


class GradingError(CallError):
    """The judge could not produce a usable score (no score, out of range, refused)."""


class OfflineMiss(CallError):
    """``--dj-offline`` and the cache has no answer for this request."""


class LocalServerError(DeltajudgeError):
    """The embedded llama.cpp server could not be started or did not answer."""
