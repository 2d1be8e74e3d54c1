"""``results.jsonl``: a run's raw results, one JSON line per finished case.

Every run writes it into its report folder as cases finish, so a 100,000-case run never
holds a second copy of its results, and a run killed half-way leaves a file whose
complete lines load. A ``--dj-shard K/N`` run is read back by ``deltajudge merge``, which
recomputes the statistics and gates over the union of the shards.

Written by `deltajudge.results_writer`; this module is the format and its reader.
The file is three kinds of line: one ``header`` (the shard, the rubric files with their
hashes, the cases selected), one ``case`` line per finished case (each model's answer and
each grade, exactly as the engine produced them), and one ``trailer`` (the models, tokens
and cost per alias, the judge-noise measurements, notes, the duration). A file without a
trailer is a run that did not finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, overload

from deltajudge import __version__
from deltajudge.cases import Case
from deltajudge.errors import ConfigError
from deltajudge.judging.types import Grade, Sample
from deltajudge.redaction import redact
from deltajudge.results import CaseResult, TokenUsage
from deltajudge.settings import ModelConfig
from deltajudge.stats.agreement import Agreement, JudgeValidation

#: Bump when a reader of an older file would misread a newer one.
FORMAT_VERSION = 1
FILE_NAME = "results.jsonl"


@dataclass(frozen=True)
class RubricHeader:
    """A rubric file as the run saw it: merging refuses shards of different files."""

    path: str  # relative to the project root (absolute when outside it)
    name: str
    sha256: str
    dataset_sha256: str
    selected: tuple[str, ...]  # the case ids this run was asked to evaluate


@dataclass(frozen=True)
class Header:
    started_at: float
    rubrics: tuple[RubricHeader, ...]
    shard: tuple[int, int] | None = None  # (K, N)
    deltajudge_version: str = __version__
    format: int = FORMAT_VERSION


@dataclass(frozen=True)
class CaseLine:
    rubric: str  # `RubricHeader.path`
    sha256: str
    id: str
    samples: dict[str, Sample]
    grades: dict[str, dict[str, Grade]]

    def result(self, case: Case) -> CaseResult:
        return CaseResult(case, self.samples, self.grades)


def case_line_at(handle: IO[bytes], offset: int) -> CaseLine:
    """The case line starting at byte ``offset`` of a results file open for reading."""
    handle.seek(offset)
    return case_from(json.loads(handle.readline()))


@dataclass(frozen=True)
class Trailer:
    duration_s: float
    models: dict[str, ModelConfig]
    tokens: dict[str, TokenUsage]
    calls: int = 0
    cache_hits: int = 0
    notes: tuple[str, ...] = ()
    interrupted: str | None = None
    exit_code: int = 0
    #: per rubric path: the noise grader and every re-judged score, keyed (case id, alias)
    noise: dict[str, tuple[str | None, dict[tuple[str, str], list[float]]]] = field(
        default_factory=dict
    )
    #: what collection found that the report must say (leaked evaluation prompts)
    collection_notes: tuple[str, ...] = ()
    #: per rubric path: each ``judge_agreement`` gate's validation on its labelled pairs
    agreements: dict[str, dict[tuple[str, str], JudgeValidation]] = field(default_factory=dict)


class CaseLines(Sequence[CaseLine]):
    """A results file's case lines, each held as its byte offset (and its rubric and id,
    which merging checks) and parsed again when read: a 100,000-case shard costs ~100
    bytes a case in memory, not its answers and grades.

    The file stays open on the handle that checked it, so the lines still read after the
    file is removed (the xdist controller deletes the workers' folder once it has merged,
    before the reports are written from it) and no read pays for opening the file again."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.offsets = array("q")
        self.ids: list[str] = []
        self._rubric = array("l")  # per line: its rubric's index in `_keys`
        self._keys: list[str] = []
        self._key_index: dict[str, int] = {}

    def add(self, offset: int, line: CaseLine) -> None:
        index = self._key_index.setdefault(line.rubric, len(self._keys))
        if index == len(self._keys):
            self._keys.append(line.rubric)
        self.offsets.append(offset)
        self.ids.append(line.id)
        self._rubric.append(index)

    def where(self) -> Iterator[tuple[str, str, int]]:
        """(rubric path, case id, byte offset) of each line, in file order, reading none."""
        keys = self._keys
        for index, case_id, offset in zip(self._rubric, self.ids, self.offsets, strict=True):
            yield keys[index], case_id, offset

    def read(self, offset: int) -> CaseLine:
        """The case line at ``offset``, exactly as `case_from` read it when checked."""
        return case_line_at(self._handle, offset)

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, index: int) -> CaseLine: ...

    @overload
    def __getitem__(self, index: slice) -> list[CaseLine]: ...

    def __getitem__(self, index: int | slice) -> CaseLine | list[CaseLine]:
        if isinstance(index, slice):
            return [self.read(self.offsets[i]) for i in range(*index.indices(len(self)))]
        return self.read(self.offsets[index])

    def close(self) -> None:
        self._handle.close()


@dataclass
class ResultsFile:
    path: Path
    header: Header
    cases: CaseLines
    trailer: Trailer | None  # None: the run was killed before it finished


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rubric_key(path: Path, rootdir: Path) -> str:
    """How a rubric is named in the file: relative to the project root, so shards run in
    different checkouts (CI machines) name the same file the same way."""
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# -- to and from plain dicts ------------------------------------------------------------


def _sample_dict(sample: Sample) -> dict[str, Any]:
    return dict(vars(sample))  # shallow: json writes the tuples as lists


def _sample(data: dict[str, Any]) -> Sample:
    return Sample(**{**data, "turns": tuple(data.get("turns", ()))})


def _grade_dict(grade: Grade) -> dict[str, Any]:
    return dict(vars(grade))


def _grade(data: dict[str, Any]) -> Grade:
    return Grade(**{**data, "samples": tuple(data.get("samples", ()))})


def header_dict(header: Header) -> dict[str, Any]:
    out = dataclasses.asdict(header)
    out["kind"] = "header"
    return out


def header_from(data: dict[str, Any]) -> Header:
    shard = data.get("shard")
    return Header(
        started_at=data["started_at"],
        rubrics=tuple(
            RubricHeader(**{**r, "selected": tuple(r["selected"])}) for r in data["rubrics"]
        ),
        shard=(int(shard[0]), int(shard[1])) if shard else None,
        deltajudge_version=data["deltajudge_version"],
        format=data["format"],
    )


def case_dict(line: CaseLine) -> dict[str, Any]:
    return {
        "kind": "case",
        "rubric": line.rubric,
        "sha256": line.sha256,
        "id": line.id,
        "samples": {a: _sample_dict(s) for a, s in line.samples.items()},
        "grades": {
            a: {g: _grade_dict(grade) for g, grade in by.items()} for a, by in line.grades.items()
        },
    }


def case_from(data: dict[str, Any]) -> CaseLine:
    return CaseLine(
        rubric=data["rubric"],
        sha256=data["sha256"],
        id=data["id"],
        samples={a: _sample(s) for a, s in data["samples"].items()},
        grades={a: {g: _grade(x) for g, x in by.items()} for a, by in data["grades"].items()},
    )


def trailer_dict(trailer: Trailer) -> dict[str, Any]:
    return {
        "kind": "trailer",
        "duration_s": trailer.duration_s,
        # No secrets: keys are read from the environment; a base_url's password is masked.
        "models": {
            a: redacted_strings(m.model_dump(mode="json", exclude_none=True))
            for a, m in trailer.models.items()
        },
        "tokens": {a: dataclasses.asdict(t) for a, t in trailer.tokens.items()},
        "calls": trailer.calls,
        "cache_hits": trailer.cache_hits,
        "notes": list(trailer.notes),
        "collection_notes": list(trailer.collection_notes),
        "interrupted": trailer.interrupted,
        "exit_code": trailer.exit_code,
        "noise": {
            path: {"grader": grader, "scores": [[c, a, s] for (c, a), s in scores.items()]}
            for path, (grader, scores) in trailer.noise.items()
        },
        "agreements": {
            path: [[k[0], k[1], dataclasses.asdict(v)] for k, v in by_key.items()]
            for path, by_key in trailer.agreements.items()
        },
    }


def _validation(data: dict[str, Any]) -> JudgeValidation:
    parts = ("judge", "length", "judge_when_preferred_shorter")
    return JudgeValidation(
        **{**data, **{p: Agreement(**data[p]) for p in parts}, "reasons": list(data["reasons"])}
    )


def trailer_from(data: dict[str, Any]) -> Trailer:
    return Trailer(
        duration_s=data["duration_s"],
        models={a: ModelConfig.model_validate(m) for a, m in data["models"].items()},
        tokens={a: TokenUsage(**t) for a, t in data["tokens"].items()},
        calls=data["calls"],
        cache_hits=data["cache_hits"],
        notes=tuple(data["notes"]),
        collection_notes=tuple(data.get("collection_notes", ())),
        interrupted=data["interrupted"],
        exit_code=data["exit_code"],
        noise={
            path: (n["grader"], {(c, a): list(s) for c, a, s in n["scores"]})
            for path, n in data["noise"].items()
        },
        agreements={
            path: {(k0, k1): _validation(v) for k0, k1, v in rows}
            for path, rows in data.get("agreements", {}).items()
        },
    )


def redacted_strings(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redacted_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted_strings(v) for v in value]
    return value


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


# -- reading ----------------------------------------------------------------------------


def _records(lines: IO[bytes], path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Each complete line with its number and byte offset; a last line cut off by a kill
    (no newline) is dropped."""
    offset = 0
    for number, raw in enumerate(lines, 1):
        if not raw.endswith(b"\n"):
            return
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not a results line: {exc.msg}", path=path, line=number, column=exc.colno
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text: {exc.reason}", path=path, line=number) from None
        if not isinstance(data, dict) or data.get("kind") not in ("header", "case", "trailer"):
            raise ConfigError(
                "expected a JSON object with kind header, case or trailer",
                path=path,
                line=number,
            )
        yield number, offset, data
        offset += len(raw)


def load_results(path: Path) -> ResultsFile:
    """Read a results file back and check every line: the header and trailer as objects,
    the case lines as their offsets (`CaseLines`), each read again exactly when asked."""
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file() and partial_path(path).is_file():
        path = partial_path(path)  # a run that did not finish: its complete lines load
    if not path.is_file():
        raise ConfigError(
            f"{path}: no results file here",
            hint="name the report folder of a `--dj-shard K/N` run (it holds results.jsonl)",
        )
    handle = path.open("rb")
    try:
        return _checked(handle, path)
    except BaseException:
        handle.close()
        raise


def _checked(handle: IO[bytes], path: Path) -> ResultsFile:
    header: Header | None = None
    cases = CaseLines(handle)
    trailer: Trailer | None = None
    for number, offset, data in _records(handle, path):
        kind = data["kind"]
        try:
            if kind == "header" and number == 1:
                header = header_from(data)
                if header.format > FORMAT_VERSION:
                    raise ConfigError(
                        f"results format {header.format} is newer than this deltajudge "
                        f"reads ({FORMAT_VERSION})",
                        path=path,
                        line=number,
                        hint="merge with the deltajudge version that wrote the shards",
                    )
            elif kind == "case" and header is not None and trailer is None:
                cases.add(offset, case_from(data))  # checked whole, then only its place kept
            elif kind == "trailer" and header is not None and trailer is None:
                trailer = trailer_from(data)
            else:
                raise ConfigError(
                    f"unexpected {kind} line (expected one header, case lines, one trailer)",
                    path=path,
                    line=number,
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"malformed {kind} line: {type(exc).__name__}: {exc}", path=path, line=number
            ) from None
    if header is None:
        raise ConfigError("empty results file (no header line)", path=path)
    return ResultsFile(path, header, cases, trailer)
