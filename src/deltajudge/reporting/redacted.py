"""The report as it may leave the process: every secret masked, whatever field holds it.

A key can reach the report through many fields (a case's error, a judge's reasoning or
raw reply, a model's answer, ``base_url``), so the writers do not trust each one: they
scan the whole serialized report once, and only when something matches rebuild it
with each string redacted (string by string, so the result is always a valid report).
The three writers of one run share that scan (it costs ~0.2 s per 10 MB of report).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from deltajudge.redaction import needs_redaction_bytes, redact, secrets
from deltajudge.reporting.model import Report

_REPORT_JSON = TypeAdapter(Report)
#: The last report checked, the secrets it was checked against, and its clean version.
_last: tuple[Report, tuple[str, ...], Report] | None = None


def report_json_bytes(report: Report) -> bytes:
    """report.json's bytes, redacted; straight from pydantic (no str copy) when clean."""
    raw = _REPORT_JSON.dump_json(report, indent=2)
    clean = _remembered(report)
    if clean is None:
        clean = _remember(report, raw)
    return raw if clean is report else _REPORT_JSON.dump_json(clean, indent=2)


def redacted(report: Report) -> Report:
    """``report`` itself when nothing in it is secret, else a copy with the secrets masked."""
    clean = _remembered(report)
    return clean if clean is not None else _remember(report, _REPORT_JSON.dump_json(report))


def _remembered(report: Report) -> Report | None:
    if _last is not None and _last[0] is report and _last[1] == secrets():
        return _last[2]
    return None


def _remember(report: Report, serialized: bytes) -> Report:
    global _last
    clean = _masked(report) if needs_redaction_bytes(serialized) else report
    _last = (report, secrets(), clean)
    return clean


def _masked(report: Report) -> Report:
    return Report.model_validate(_redact_strings(report.model_dump(mode="json")))


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    return value
