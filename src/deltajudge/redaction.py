"""One redactor for every string that leaves the process: errors, reports, the terminal.

A server that echoes the request back (a 401 body quoting the ``Authorization`` header, a
proxy's error page, a ``base_url`` with ``user:password@`` in it) would otherwise carry an
API key into the console, report.json, the HTML page and JUnit XML, which CI uploads
and pull requests link to. So the text is scrubbed at the edges: when an endpoint's
message becomes our `CallError`, and again in every writer, whatever the text's origin.

What is masked:

* the value of every key variable: ``OPENAI_API_KEY``, ``AZURE_OPENAI_API_KEY``, each
  alias's ``api_key_env`` (registered with `watch` when aliases are resolved), and any
  variable named like a secret (``*_API_KEY``, ``*_KEY``, ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``), when the value has at least `MIN_SECRET_LENGTH` characters;
* ``Authorization:`` / ``Proxy-Authorization:`` values, ``api-key:`` / ``x-api-key:`` values
  (headers, JSON, or ``?api-key=`` in a URL), and any ``Bearer <token>``;
* the password of ``scheme://user:password@host``.

This module is the lowest layer (it imports nothing of deltajudge), so every stage can use it.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Mapping

#: Always masked, whatever the configuration names.
KEY_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
#: Shorter values are not masked by value: a 3-letter "key" would mask every "the" in a
#: report. Header, bearer and URL patterns still mask them.
MIN_SECRET_LENGTH = 8
MASK = "[REDACTED]"

_watched: set[str] = set(KEY_VARIABLES)
_SECRET_NAME = re.compile(r"(?:^|_)(?:KEY|TOKEN|SECRET|PASSWORD)$")

# A value already masked is left alone, so redacting twice changes nothing.
_SCHEME = r"(?:(?:bearer|basic|token|digest)\s+)"
_VALUE = rf"(?!{_SCHEME}?{re.escape(MASK)})"
_PATTERNS = (
    # Authorization: Bearer sk-..., "authorization": "Basic ...", Proxy-Authorization=...
    rf"(?P<a>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?{_VALUE}{_SCHEME}?)[^\s\"'\\,;}}\]]+",
    # api-key: ..., "x-api-key": "...", ?api-key=... (Azure OpenAI sends api-key)
    rf"(?P<b>\b(?:x-)?api[-_]?key\b[\"']?\s*[:=]\s*[\"']?){_VALUE}[^\s\"'\\,;}}\]&#]+",
    # a bearer token anywhere else
    rf"(?P<c>\bbearer\s+){_VALUE}[A-Za-z0-9._~+/=-]{{8,}}",
    # scheme://user:password@host
    rf"(?P<d>\b[a-z][a-z0-9+.-]*://[^/\s:@\"']*:){_VALUE}[^/\s@\"'\\]+(?=@)",
)

#: Words one of the header patterns needs; text without any of them skips the patterns.
_HINTS = ("authorization", "api-key", "api_key", "apikey", "bearer")
#: ``://user:password@`` (a pattern with a literal start: searched quickly).
_URL_CREDENTIALS = re.compile(r"://[^/\s@\"'\\]*:[^/\s@\"'\\]+@")
_URL_CREDENTIALS_BYTES = re.compile(_URL_CREDENTIALS.pattern.encode())

# ANSI escape sequences (CSI, OSC, two-byte), then the remaining C0/C1 controls (tab and
# newline stay) and the bidirectional overrides that make a terminal show other text.
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)


def watch(names: Iterable[str]) -> None:
    """Mask the values of these environment variables too (each alias's ``api_key_env``)."""
    _watched.update(names)


def secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values that must never be printed or written, longest first."""
    env = os.environ if environ is None else environ
    found = {
        value.strip()
        for name, value in env.items()
        if name in _watched or _SECRET_NAME.search(name.upper())
    }
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every secret masked; the same object when there is nothing to mask."""
    values = secrets()
    if not _may_hold(text, text.lower(), values):
        return text
    return _pattern(values).sub(_replace, text)


def needs_redaction(text: str) -> bool:
    values = secrets()
    return _may_hold(text, text.lower(), values) and _pattern(values).search(text) is not None


def needs_redaction_among(text: str, values: tuple[str, ...]) -> bool:
    """`needs_redaction` against `secrets` read once: a writer of 100,000 lines would
    otherwise scan the environment once per line."""
    return _may_hold(text, text.lower(), values) and _pattern(values).search(text) is not None


def needs_redaction_bytes(data: bytes, values: tuple[str, ...] | None = None) -> bool:
    """`needs_redaction` for UTF-8 bytes: report.json is checked without decoding it.
    ``values``: `secrets` read once by a caller checking many rows."""
    values = secrets() if values is None else values
    if not _may_hold_bytes(data, values):
        return False
    return _pattern(values).search(data.decode("utf-8", "replace")) is not None


def strip_controls(text: str) -> str:
    """Drop terminal escape sequences and control characters; keep tabs and newlines."""
    return _CONTROLS.sub("", text)


def scrub(text: str) -> str:
    """What an endpoint's error text or a console line goes through: controls, then secrets."""
    return redact(strip_controls(text))


def _variants(values: tuple[str, ...]) -> list[str]:
    """Each secret as written raw and as JSON escapes it (a key holding ``"`` or ``\\``)."""
    out: list[str] = []
    for value in values:
        out.append(value)
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            out.append(escaped)
    return out


@functools.lru_cache(maxsize=8)
def _pattern(values: tuple[str, ...]) -> re.Pattern[str]:
    literal = "|".join(re.escape(v) for v in _variants(values))
    headers = [f"(?i:{p})" for p in _PATTERNS]
    return re.compile("|".join([*headers, f"(?P<v>{literal})"] if literal else headers))


def _may_hold(text: str, lowered: str, values: tuple[str, ...]) -> bool:
    """A quick no for the usual text (substring tests run at C speed; the full pattern
    would cost a third of a second on a 600-case report)."""
    return (
        any(hint in lowered for hint in _HINTS)
        or _URL_CREDENTIALS.search(text) is not None
        or any(v in text for v in _variants(values))
    )


def _may_hold_bytes(data: bytes, values: tuple[str, ...]) -> bool:
    lowered = data.lower()
    return (
        any(hint.encode() in lowered for hint in _HINTS)
        or _URL_CREDENTIALS_BYTES.search(data) is not None
        or any(v.encode("utf-8") in data for v in _variants(values))
    )


def _replace(match: re.Match[str]) -> str:
    if match.lastgroup == "v":
        return MASK
    return (match.group(match.lastgroup or 0) or "") + MASK
