"""The report as it may leave the process: every secret masked, whatever field holds it.

A key can reach the report through many fields (a case's error, a judge's reasoning or
raw reply, a model's answer, ``base_url``), so the writers do not trust each one: they
scan the serialized report, and only when something matches rebuild that part with
each string redacted (string by string, so the result is always a valid report). The
head (everything but the case rows) is scanned at once; each case row as it is read
(`MaskedCases`), since a big run's rows are never all in memory (`case_entries`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from deltajudge.redaction import needs_redaction_bytes, redact, secrets
from deltajudge.reporting.case_entries import Rows, pick
from deltajudge.reporting.model import CaseEntry, Report

_REPORT_JSON = TypeAdapter(Report)
_CASE_JSON = TypeAdapter(CaseEntry)


def redacted(report: Report) -> Report:
    """``report`` with every secret masked: its head checked now, its case rows each
    when read."""
    if all(isinstance(r.cases, MaskedCases) for r in report.rubrics):
        return report  # already the masked view
    head = without_cases(report)
    if needs_redaction_bytes(_REPORT_JSON.dump_json(head)):
        head = Report.model_validate(_redact_strings(head.model_dump(mode="json")))
    rubrics = [
        clean.model_copy(update={"cases": MaskedCases(rubric.cases)})
        for clean, rubric in zip(head.rubrics, report.rubrics, strict=True)
    ]
    return head.model_copy(update={"rubrics": rubrics})


def without_cases(report: Report) -> Report:
    """The report with every rubric's ``cases`` empty: what can be serialized at once."""
    rubrics = [r.model_copy(update={"cases": []}) for r in report.rubrics]
    return report.model_copy(update={"rubrics": rubrics})


def case_json(case: CaseEntry, indent: int | None = None) -> bytes:
    return _CASE_JSON.dump_json(case, indent=indent)


def report_head_json(report: Report, indent: int | None = None) -> bytes:
    return _REPORT_JSON.dump_json(without_cases(report), indent=indent)


class MaskedCases(Rows):
    """Case rows with every secret masked, checked one by one as they are read."""

    def __init__(self, cases: Sequence[CaseEntry]) -> None:
        self._cases = cases
        self._secrets = secrets()  # read once: the environment is not scanned per row

    def __len__(self) -> int:
        return len(self._cases)

    def _row(self, index: int) -> CaseEntry:
        return self._masked(self._cases[index])

    def pick(self, ids: set[str]) -> dict[str, CaseEntry]:
        return {i: self._masked(c) for i, c in pick(self._cases, ids).items()}

    def _masked(self, case: CaseEntry) -> CaseEntry:
        if not needs_redaction_bytes(_CASE_JSON.dump_json(case), self._secrets):
            return case
        return CaseEntry.model_validate(_redact_strings(case.model_dump(mode="json")))


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    return value
