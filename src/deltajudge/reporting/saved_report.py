"""A saved report.json read without holding its case rows: the head (every figure and
gate) parsed whole, each case row kept as its byte span and a digest, and parsed again
only when asked for (`SavedRows`).

A 100,000-case report.json is ~230 MB of JSON, several times that as a `Report`; the
``baseline`` gate needs the figures, and the rows of the cases that changed only. The
split relies on the layout `deltajudge.reporting.build.write_report_json` writes
(pydantic's indent-2 dump: each rubric's ``"cases": [`` on its own line at six spaces,
each row's opening and closing brace alone on a line at eight; JSON strings hold no raw
newline, so such a line is never inside a value). A file in any other layout
(hand-edited, re-indented, on one line) gives None, and the caller reads it whole.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from deltajudge.reporting.case_entries import Rows
from deltajudge.reporting.model import CaseEntry, Report

#: What a row's digest is made from (`deltajudge.gating.baseline.case_digest`).
Digest = Callable[[CaseEntry], bytes]

_CASES_OPEN = b'      "cases": [\n'
_CASES_EMPTY = (b'      "cases": []\n', b'      "cases": [],\n')
_CASES_CLOSE = (b"      ]\n", b"      ],\n")
_ROW_OPEN = b"        {\n"
_ROW_CLOSE = (b"        }\n", b"        },\n")


class _NotTheLayout(Exception):
    pass


class SavedRows(Rows):
    """One rubric's case rows in a saved report.json, each parsed when read. The file
    stays open on the handle that indexed it: a baseline replaced meanwhile (accepted
    again, atomically) still reads as the report that was indexed."""

    def __init__(self, handle: IO[bytes], digest: Digest) -> None:
        self._handle = handle
        self._digest = digest
        self._starts = array("q")
        self._ends = array("q")
        self._digests = bytearray()
        self._size = 0
        #: case id -> row number, in file order
        self.positions: dict[str, int] = {}

    def _add(self, start: int, row: bytes) -> None:
        case = CaseEntry.model_validate_json(row)
        digest = self._digest(case)
        if self._size == 0:
            self._size = len(digest)
        if len(digest) != self._size:
            raise ValueError("a row digest must always have the same length")
        self.positions[case.id] = len(self._starts)  # a repeated id: its last row
        self._starts.append(start)
        self._ends.append(start + len(row))
        self._digests += digest

    def digest(self, index: int) -> bytes:
        """The row's digest, computed once when the file was indexed."""
        return bytes(self._digests[index * self._size : (index + 1) * self._size])

    def __len__(self) -> int:
        return len(self._starts)

    def _row(self, index: int) -> CaseEntry:
        start = self._starts[index]
        self._handle.seek(start)
        return CaseEntry.model_validate_json(self._handle.read(self._ends[index] - start))

    def pick(self, ids: set[str]) -> dict[str, CaseEntry]:
        return {i: self._row(p) for i, p in self.positions.items() if i in ids}


def read_saved_report(path: Path, digest: Digest) -> Report | None:
    """The report with each rubric's ``cases`` a `SavedRows`, or None when the file is not
    in `write_report_json`'s layout or does not validate (the caller then reads it whole,
    which also says what is wrong with it)."""
    handle = path.open("rb")
    try:
        head, rows = _split(handle, digest)
        report = Report.model_validate_json(bytes(head))
    except (_NotTheLayout, ValidationError, ValueError):
        handle.close()
        return None
    if len(report.rubrics) != len(rows) or any(r.cases for r in report.rubrics):
        handle.close()
        return None
    for rubric, found in zip(report.rubrics, rows, strict=True):
        rubric.cases = found
    return report


def _split(handle: IO[bytes], digest: Digest) -> tuple[bytearray, list[SavedRows]]:
    """The head's bytes (every rubric's ``cases`` left empty) and each rubric's rows."""
    head = bytearray()
    rubrics: list[SavedRows] = []
    lines = _lines(handle)
    for _, line in lines:
        head += line
        if line in _CASES_EMPTY:
            rubrics.append(SavedRows(handle, digest))
        elif line == _CASES_OPEN:
            found = SavedRows(handle, digest)
            head += _rows(lines, found)
            rubrics.append(found)
    return head, rubrics


def _rows(lines: Iterator[tuple[int, bytes]], into: SavedRows) -> bytes:
    """Read one rubric's rows into ``into``; returns the line that closes its array."""
    start: int | None = None
    row: list[bytes] = []
    for offset, line in lines:
        if start is None:
            if line in _CASES_CLOSE:
                return line
            if line != _ROW_OPEN:
                raise _NotTheLayout
            start = offset
            row = [line]
            continue
        if line in _ROW_CLOSE:
            row.append(line[:9])  # the closing brace, without a comma and the newline
            into._add(start, b"".join(row))
            start = None
        else:
            row.append(line)
    raise _NotTheLayout  # the file ended inside a rubric's cases


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    offset = 0
    for line in handle:
        yield offset, line
        offset += len(line)
