"""Shards: a deterministic 1/N of each rubric's cases, and the union of N shards' results.

A case belongs to shard ``hash(rubric name, case id) mod N``: adding a case to the data
set never moves the others, so a CI matrix keeps its caches warm. ``deltajudge merge``
reads the shards' ``results.jsonl`` files, checks that they are the N parts of one run,
and rebuilds the `RunResults` a single run would have produced; the statistics, gates and
reports are then computed from it exactly as after a normal run. The merged cases stay in
the shards' files (`ShardSpill`): memory holds one byte offset per case.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deltajudge.cases import Case
from deltajudge.errors import ConfigError
from deltajudge.judging.loading import LoadedRubric, load_rubric
from deltajudge.results import CaseResult, CaseResults, RubricRun, RunResults, TokenUsage
from deltajudge.results_file import CaseLines, ResultsFile, file_sha256
from deltajudge.settings import ModelConfig
from deltajudge.stats.agreement import JudgeValidation


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 1
    count: int  # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, rubric: str, case_id: str) -> bool:
        return shard_of(rubric, case_id, self.count) == self.index


def parse_shard(text: str, option: str = "--dj-shard") -> Shard:
    """``K/N`` with 1 <= K <= N, else an error saying so, naming ``option`` as typed."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise ConfigError(
            f"{option} expects K/N, e.g. 2/4 (got {text!r})",
            hint="K is this machine's shard, from 1; N is the number of shards",
        )
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ConfigError(
            f"{option} {text}: expected 1 <= K <= N (got K={index}, N={count})",
            hint=f"shards are numbered 1..N, e.g. {option} 1/4 ... {option} 4/4",
        )
    return Shard(index, count)


def shard_of(rubric: str, case_id: str, count: int) -> int:
    """The shard (1..count) of one case: a hash of the rubric's name and the case id."""
    digest = hashlib.sha256(f"{rubric}\0{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


# -- merging ----------------------------------------------------------------------------


def check_shards(files: list[ResultsFile]) -> int:
    """The shard count N, once the files are shown to be the N shards of one run."""
    if not files:
        raise ConfigError("deltajudge merge needs at least one shard folder")
    counts = {f.header.shard[1] if f.header.shard else None for f in files}
    if None in counts:
        plain = next(f.path for f in files if f.header.shard is None)
        raise ConfigError(
            f"{plain}: not a shard (the run had no --dj-shard K/N)",
            hint="merge the report folders of `--dj-shard K/N` runs",
        )
    if len(counts) > 1:
        listed = ", ".join(f"{f.path}: {_shard_text(f)}" for f in files)
        raise ConfigError(f"the shards disagree on N: {listed}")
    count = counts.pop()
    assert count is not None
    seen: dict[int, Path] = {}
    for f in files:
        assert f.header.shard is not None
        index = f.header.shard[0]
        if index in seen:
            raise ConfigError(f"shard {index}/{count} given twice: {seen[index]} and {f.path}")
        seen[index] = f.path
        if f.trailer is None:
            raise ConfigError(
                f"{f.path}: shard {index}/{count} did not finish (no trailer line: killed?)",
                hint="rerun that shard; answers it already received are cached",
            )
    missing = sorted(set(range(1, count + 1)) - seen.keys())
    if missing:
        absent = ", ".join(f"{k}/{count}" for k in missing)
        given = ", ".join(f"{k}/{count}" for k in sorted(seen))
        raise ConfigError(
            f"missing shard{'s' if len(missing) > 1 else ''} {absent} (got {given})",
            hint="name every shard's report folder: deltajudge merge shard-1 ... shard-N",
        )
    _check_same_rubrics(files)
    return count


def _shard_text(f: ResultsFile) -> str:
    return f"{f.header.shard[0]}/{f.header.shard[1]}" if f.header.shard else "not a shard"


def _check_same_rubrics(files: list[ResultsFile]) -> None:
    first = files[0]
    want = {r.path: (r.sha256, r.dataset_sha256) for r in first.header.rubrics}
    for other in files[1:]:
        got = {r.path: (r.sha256, r.dataset_sha256) for r in other.header.rubrics}
        for path in sorted(want.keys() | got.keys()):
            if path not in got or path not in want:
                has, lacks = (first, other) if path in want else (other, first)
                raise ConfigError(
                    f"rubric {path} is in shard {_shard_text(has)} ({has.path}) but not in "
                    f"shard {_shard_text(lacks)} ({lacks.path})",
                    hint="run every shard with the same rubric files and selection",
                )
            if want[path] != got[path]:
                what = "rubric file" if want[path][0] != got[path][0] else "data set"
                raise ConfigError(
                    f"{path}: the {what} differs between shard {_shard_text(first)} and shard "
                    f"{_shard_text(other)} (sha256 {want[path]} vs {got[path]})",
                    hint="run every shard from the same commit",
                )


def merged_results(
    files: list[ResultsFile], rootdir: Path, known: Mapping[Path, LoadedRubric] | None = None
) -> RunResults:
    """One `RunResults` from the shards, as one run over their union would have made it.
    ``known``: rubrics this process has loaded already (an xdist worker's collection)."""
    count = check_shards(files)
    files = sorted(files, key=lambda f: f.header.shard or (0, 0))
    runs = [
        _merged_run(h.path, files, rootdir, count, known or {}) for h in files[0].header.rubrics
    ]
    trailers = [f.trailer for f in files if f.trailer is not None]
    return RunResults(
        rubrics=runs,
        models=_same_models(files),
        tokens=_summed_tokens([t.tokens for t in trailers]),
        started_at=min(f.header.started_at for f in files),
        duration_s=max(t.duration_s for t in trailers),
        calls=sum(t.calls for t in trailers),
        cache_hits=sum(t.cache_hits for t in trailers),
        notes=_merged_notes(files),
        interrupted=next((t.interrupted for t in trailers if t.interrupted), None),
        exit_code=max(t.exit_code for t in trailers),
    )


def merged_agreements(
    files: list[ResultsFile], rootdir: Path
) -> dict[Path, dict[tuple[str, str], JudgeValidation]]:
    """The ``judge_agreement`` gates' validations: every shard judged the same labelled
    pairs (they are not sharded), so the first shard's are the run's."""
    first = min(files, key=lambda f: f.header.shard or (0, 0))
    found = first.trailer.agreements if first.trailer is not None else {}
    return {_rubric_path(key, rootdir): dict(by_key) for key, by_key in found.items()}


def merged_collection_notes(files: list[ResultsFile]) -> list[str]:
    """What collection found (leaked prompts): every shard collected the same files."""
    return list(dict.fromkeys(n for f in files if f.trailer for n in f.trailer.collection_notes))


def _rubric_path(key: str, rootdir: Path) -> Path:
    return Path(key) if Path(key).is_absolute() else rootdir / key


def _merged_notes(files: list[ResultsFile]) -> list[str]:
    """A note every shard made is said once; one only some shards made (each shard's cost
    estimate, an endpoint that throttled one machine) says which shard it is from."""
    per_shard = [(f, f.trailer.notes if f.trailer else ()) for f in files]
    common = set.intersection(*(set(notes) for _, notes in per_shard))
    out = [n for n in per_shard[0][1] if n in common]
    for f, notes in per_shard:
        out += [f"shard {_shard_text(f)}: {n}" for n in notes if n not in common]
    return out


def _merged_run(
    key: str,
    files: list[ResultsFile],
    rootdir: Path,
    count: int,
    known: Mapping[Path, LoadedRubric],
) -> RubricRun:
    path = _rubric_path(key, rootdir)
    header = next(r for r in files[0].header.rubrics if r.path == key)
    if not path.is_file():
        raise ConfigError(
            f"{key}: the shards' rubric file is not here (looked in {rootdir})",
            hint="run `deltajudge merge` in the project the shards ran in (or pass --config)",
        )
    loaded = known.get(path) or load_rubric(path)  # a worker's collection loaded it already
    if (
        file_sha256(path) != header.sha256
        or file_sha256(loaded.dataset_path) != header.dataset_sha256
    ):
        raise ConfigError(
            f"{key}: the rubric file or its data set changed since the shards ran",
            hint="merge from the commit the shards ran at",
        )
    by_id = {c.id: c for c in loaded.cases}
    spill = ShardSpill([f.cases for f in files])
    places: dict[str, int] = {}
    selected: set[str] = set()
    noise: dict[tuple[str, str], list[float]] = {}
    noise_grader: str | None = None
    for shard, f in enumerate(files):
        assert f.header.shard is not None and f.trailer is not None
        own = next(r for r in f.header.rubrics if r.path == key)
        _check_ids(own.selected, by_id, f, key, count)
        wanted = set(own.selected)
        selected |= wanted
        for rubric, case_id, offset in f.cases.where():
            if rubric != key:
                continue
            if case_id in places:
                raise ConfigError(f"{key}::{case_id}: evaluated by two shards (one is {f.path})")
            if case_id not in wanted:
                raise ConfigError(f"{f.path}: {key}::{case_id} has a result but was not selected")
            places[case_id] = spill.place(shard, offset)
        grader, scores = f.trailer.noise.get(key, (None, {}))
        noise_grader = noise_grader or grader
        noise.update(scores)
    chosen = [c for c in loaded.cases if c.id in selected]  # data-set order, as one run
    cases = CaseResults.placed(((c, places[c.id]) for c in chosen if c.id in places), spill)
    return RubricRun(loaded, chosen, cases, noise, noise_grader)


class ShardSpill:
    """A merged run's cases, each left in the shard file that holds it and read from there
    when asked for (a read-only `deltajudge.results.Spill`): a place is the line's byte
    offset times the number of shards, plus the shard's index. Memory keeps that one int
    per case, so a merge of 100,000 cases never holds their answers."""

    def __init__(self, shards: list[CaseLines]) -> None:
        self._shards = shards

    def place(self, shard: int, offset: int) -> int:
        return offset * len(self._shards) + shard

    def write(self, result: CaseResult) -> int:
        raise TypeError(f"{result.case.id}: a merged run's cases are read from its shards only")

    def read(self, place: int, case: Case) -> CaseResult:
        offset, shard = divmod(place, len(self._shards))
        return self._shards[shard].read(offset).result(case)


def _check_ids(
    ids: tuple[str, ...], by_id: Mapping[str, object], f: ResultsFile, key: str, count: int
) -> None:
    assert f.header.shard is not None
    index = f.header.shard[0]
    name = next(r.name for r in f.header.rubrics if r.path == key)
    for case_id in ids:
        if case_id not in by_id:
            raise ConfigError(f"{f.path}: {key}::{case_id} is not in the rubric's data set")
        if shard_of(name, case_id, count) != index:
            raise ConfigError(
                f"{f.path}: {key}::{case_id} belongs to shard "
                f"{shard_of(name, case_id, count)}/{count}, not {index}/{count}"
            )


def _same_models(files: list[ResultsFile]) -> dict[str, ModelConfig]:
    """Every shard must have asked the same model ids: else the union compares nothing."""
    first = files[0]
    assert first.trailer is not None
    models = dict(first.trailer.models)
    for other in files[1:]:
        assert other.trailer is not None
        for alias, config in other.trailer.models.items():
            known = models.setdefault(alias, config)
            if known.model != config.model:
                raise ConfigError(
                    f"alias {alias!r} is model {known.model!r} in shard {_shard_text(first)} "
                    f"but {config.model!r} in shard {_shard_text(other)}",
                    hint="run every shard with the same models (--dj-model, config)",
                )
    return models


def _summed_tokens(per_shard: list[dict[str, TokenUsage]]) -> dict[str, TokenUsage]:
    out: dict[str, TokenUsage] = {}
    for tokens in per_shard:
        for alias, usage in tokens.items():
            known = None if usage.cost_usd is None else 0.0
            out.setdefault(alias, TokenUsage(cost_usd=known)).add(usage)
    return out
