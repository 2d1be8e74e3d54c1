"""Writing ``results.jsonl`` as cases finish (the format is `deltajudge.results_file`).

A line is flushed per finished case, so a 100,000-case run keeps no second copy of its
results and a killed run leaves every case that finished; the file becomes
``results.jsonl`` only when the trailer is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from deltajudge.cases import Case
from deltajudge.redaction import needs_redaction_among, secrets
from deltajudge.results import CaseResult, CaseResults, RubricRun, RunResults
from deltajudge.results_file import (
    CaseLine,
    Header,
    RubricHeader,
    Trailer,
    case_dict,
    case_line_at,
    file_sha256,
    header_dict,
    partial_path,
    redacted_strings,
    rubric_key,
    trailer_dict,
)
from deltajudge.stats.agreement import JudgeValidation

#: ``judge_agreement`` gates' results per rubric file (`deltajudge.judge_check.RunAgreements`).
Agreements = Mapping[Path, Mapping[tuple[str, str], JudgeValidation]]


def _line(data: dict[str, Any], secret_values: tuple[str, ...] | None = None) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    values = secrets() if secret_values is None else secret_values
    if needs_redaction_among(
        text, values
    ):  # an answer or an error quoting a key: mask string by string
        text = json.dumps(redacted_strings(data), ensure_ascii=False, separators=(",", ":"))
    return text + "\n"


# -- writing, as cases finish -----------------------------------------------------------


class ResultsWriter:
    """Appends one line per finished case and flushes it, so a killed run's file holds
    every case that finished before the kill (the trailer is what marks a finished run).

    The lines go to ``results.jsonl.partial``, renamed to ``results.jsonl`` when the run
    finishes: the report folder's results.jsonl is always the run its report.json shows.

    The file is also where a run keeps its finished cases (`spill`): a line is read back,
    by its byte offset, whenever statistics or reports ask for that case."""

    def __init__(self, path: Path, header: Header, rootdir: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._rootdir = rootdir
        self._keys: dict[Path, tuple[str, str]] = {}
        self._out: IO[bytes] | None = partial_path(path).open("wb")
        # opened now: the handle still reads the file after the rename to results.jsonl
        self._in = partial_path(path).open("rb")
        self._end = 0
        self._secrets = secrets()  # the run's keys are known (and watched) by now
        self._write(header_dict(header))

    def _write(self, data: dict[str, Any]) -> int:
        """Append a line; returns the byte offset it starts at."""
        assert self._out is not None
        encoded = _line(data, self._secrets).encode("utf-8")
        self._out.write(encoded)
        self._out.flush()
        start, self._end = self._end, self._end + len(encoded)
        return start

    def case(self, run: RubricRun, result: CaseResult) -> int:
        path = run.loaded.path
        if path not in self._keys:
            self._keys[path] = (rubric_key(path, self._rootdir), file_sha256(path))
        key, sha = self._keys[path]
        line = CaseLine(key, sha, result.case.id, dict(result.samples), dict(result.grades))
        return self._write(case_dict(line))

    def read_case(self, offset: int, case: Case) -> CaseResult:
        """The case's result as written (secrets already masked)."""
        return case_line_at(self._in, offset).result(case)

    def spill(self, run: RubricRun) -> None:
        """From now on ``run``'s finished cases live in this file, not in memory."""
        run.cases = CaseResults(run.cases, _RunSpill(self, run))

    def finish(
        self,
        results: RunResults,
        agreements: Agreements | None = None,
        collection_notes: tuple[str, ...] = (),
    ) -> None:
        noise: dict[str, tuple[str | None, dict[tuple[str, str], list[float]]]] = {
            rubric_key(run.loaded.path, self._rootdir): (run.noise_grader, dict(run.noise))
            for run in results.rubrics
            if run.noise_grader is not None
        }
        trailer = Trailer(
            duration_s=results.duration_s,
            models=dict(results.models),
            tokens=dict(results.tokens),
            calls=results.calls,
            cache_hits=results.cache_hits,
            notes=tuple(results.notes),
            collection_notes=collection_notes,
            interrupted=results.interrupted,
            exit_code=results.exit_code,
            noise=noise,
            agreements={
                rubric_key(path, self._rootdir): dict(by_key)
                for path, by_key in (agreements or {}).items()
            },
        )
        self._write(trailer_dict(trailer))
        self.close()
        os.replace(partial_path(self.path), self.path)

    def close(self) -> None:
        """Stop writing; the ``.partial`` file stays (a run that failed or was killed).
        Cases already written can still be read back."""
        if self._out is not None:
            self._out.close()
            self._out = None

    def discard(self) -> None:
        """The run decided nothing (Batch API submitted or pending): leave no file."""
        self.close()
        partial_path(self.path).unlink(missing_ok=True)


class _RunSpill:
    """One rubric's cases kept in the results file (the `deltajudge.results.Spill`)."""

    def __init__(self, writer: ResultsWriter, run: RubricRun) -> None:
        self._writer = writer
        self._run = run

    def write(self, result: CaseResult) -> int:
        return self._writer.case(self._run, result)

    def read(self, place: int, case: Case) -> CaseResult:
        return self._writer.read_case(place, case)


def header_for(
    runs: list[RubricRun], rootdir: Path, started_at: float, shard: tuple[int, int] | None
) -> Header:
    return Header(
        started_at=started_at,
        rubrics=tuple(
            RubricHeader(
                path=rubric_key(run.loaded.path, rootdir),
                name=run.name,
                sha256=file_sha256(run.loaded.path),
                dataset_sha256=file_sha256(run.loaded.dataset_path),
                selected=tuple(c.id for c in run.selected),
            )
            for run in runs
        ),
        shard=shard,
    )


def write_results(
    path: Path,
    results: RunResults,
    rootdir: Path,
    agreements: Agreements | None = None,
    collection_notes: tuple[str, ...] = (),
) -> Path:
    """The whole file at once, for results merged from shards (an xdist run's folder)."""
    header = header_for(results.rubrics, rootdir, results.started_at, None)
    writer = ResultsWriter(path, header, rootdir)
    for run in results.rubrics:
        for result in run.cases.values():
            writer.case(run, result)
    writer.finish(results, agreements, collection_notes)
    return path
