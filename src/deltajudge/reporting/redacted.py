"""The report as it may leave the process: every secret masked, whatever field holds it.

A key can reach the report through many fields (a case's error, a judge's reasoning or
raw reply, a model's answer, ``base_url``), so the writers do not trust each one: they
scan the serialized report, and only when something matches rebuild that part with
each string redacted (string by string, so the result is always a valid report). The
head (everything but the case rows) is scanned at once; each case row as it is read
(`MaskedCases`), since a big run's rows are never all in memory (`case_entries`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import TypeAdapter

from deltajudge.redaction import needs_redaction_bytes, redact, secrets
from deltajudge.reporting.case_entries import Rows, pick
from deltajudge.reporting.model import CaseEntry, Report

_REPORT_JSON = TypeAdapter(Report)
_CASE_JSON = TypeAdapter(CaseEntry)


#: The last report masked, the secrets it was masked against, and its view: the writers
#: of one run (report.json, report.html, summary.md) share it, so each row is checked once.
_last: tuple[Report, tuple[str, ...], Report] | None = None


def redacted(report: Report) -> Report:
    """``report`` with every secret masked: its head checked now, its case rows each
    when first read."""
    global _last
    if all(isinstance(r.cases, MaskedCases) for r in report.rubrics):
        return report  # already the masked view
    if _last is not None and _last[0] is report and _last[1] == secrets():
        return _last[2]
    head = without_cases(report)
    if needs_redaction_bytes(_REPORT_JSON.dump_json(head)):
        head = Report.model_validate(_redact_strings(head.model_dump(mode="json")))
    rubrics = [
        clean.model_copy(update={"cases": MaskedCases(rubric.cases)})
        for clean, rubric in zip(head.rubrics, report.rubrics, strict=True)
    ]
    view = head.model_copy(update={"rubrics": rubrics})
    _last = (report, secrets(), view)
    return view


def without_cases(report: Report) -> Report:
    """The report with every rubric's ``cases`` empty: what can be serialized at once."""
    rubrics = [r.model_copy(update={"cases": []}) for r in report.rubrics]
    return report.model_copy(update={"rubrics": rubrics})


def case_json(case: CaseEntry, indent: int | None = None) -> bytes:
    return _CASE_JSON.dump_json(case, indent=indent)


def report_head_json(report: Report, indent: int | None = None) -> bytes:
    return _REPORT_JSON.dump_json(without_cases(report), indent=indent)


class MaskedCases(Rows):
    """Case rows with every secret masked, checked one by one as they are first read: a
    row found clean is not scanned again (a big run's rows are walked by several writers,
    and each is rebuilt from results.jsonl the same every time)."""

    def __init__(self, cases: Sequence[CaseEntry]) -> None:
        self._cases = cases
        self._secrets = secrets()  # read once: the environment is not scanned per row
        self._clean = bytearray(len(cases))  # 1: row i was checked and holds no secret

    def __len__(self) -> int:
        return len(self._cases)

    def _row(self, index: int) -> CaseEntry:
        case = self._cases[index]
        return case if self._clean[index] else self._checked(index, case)[0]

    def json_rows(self, indent: int | None = None) -> Iterator[bytes]:
        """Each row's JSON, masked: what report.json is written from (the check reads the
        very bytes written, so a clean row is serialized once)."""
        for index, case in enumerate(self._cases):
            if self._clean[index]:
                yield case_json(case, indent)
            else:
                yield self._checked(index, case, indent)[1]

    def pick(self, ids: set[str]) -> dict[str, CaseEntry]:
        return {i: self._checked(None, c)[0] for i, c in pick(self._cases, ids).items()}

    def _checked(
        self, index: int | None, case: CaseEntry, indent: int | None = None
    ) -> tuple[CaseEntry, bytes]:
        """The row, masked if it must be, and its JSON; a clean row is marked as such."""
        data = case_json(case, indent)
        if not needs_redaction_bytes(data, self._secrets):
            if index is not None:
                self._clean[index] = 1
            return case, data
        masked = CaseEntry.model_validate(_redact_strings(case.model_dump(mode="json")))
        return masked, case_json(masked, indent)


def _redact_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    return value
