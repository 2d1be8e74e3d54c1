"""The report as it may leave the process: every secret masked, whatever field holds it.

A key can reach the report through many fields (a case's error, a judge's reasoning or
raw reply, a model's answer, ``base_url``), so the writers do not trust each one: they
scan the whole serialized report once, and only when something matches rebuild it
with each string redacted (string by string, so the result is always a valid report).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from deltajudge.redaction import needs_redaction_bytes, redact
from deltajudge.reporting.model import Report

_REPORT_JSON = TypeAdapter(Report)


def report_json_bytes(report: Report) -> bytes:
    """report.json's bytes, redacted; straight from pydantic (no str copy) when clean."""
    raw = _REPORT_JSON.dump_json(report, indent=2)
    if not needs_redaction_bytes(raw):
        return raw
    return _REPORT_JSON.dump_json(_masked(report), indent=2)


def redacted(report: Report) -> Report:
    """``report`` itself when nothing in it is secret, else a copy with the secrets masked."""
    if not needs_redaction_bytes(_REPORT_JSON.dump_json(report)):
        return report
    return _masked(report)


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
