"""A rubric's figures (statistics and gates), replayed when an earlier run scored exactly
the same: importing scipy and bootstrapping is most of a cached rerun's time, and the
figures of unchanged scores cannot change unless the code that computes them did.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from deltajudge import __version__
from deltajudge.judging.rubric import Rubric
from deltajudge.reporting.model import Figures
from deltajudge.results import CaseResult, RubricRun

if TYPE_CHECKING:
    from deltajudge.gating.gates import Agreements
    from deltajudge.generation.cache import ResponseCache


def figures_for(
    run: RubricRun, cache: ResponseCache | None, agreements: Agreements | None = None
) -> Figures:
    """The rubric's statistics and gates: replayed when an earlier run scored exactly the
    same, else computed. Importing scipy and bootstrapping is most of a cached rerun's time."""
    key = _key(run, agreements)
    found = cache.get_figures(key) if cache is not None else None
    if found is not None:
        return Figures.model_validate_json(found)
    # scipy (~0.8 s to import) loads only here: collection and replays stay quick.
    from deltajudge.gating.gates import decide
    from deltajudge.reporting.build import figures
    from deltajudge.stats.rubric import analyze

    stats = analyze(run)
    computed = figures(stats, decide(run.loaded.rubric, stats, agreements or {}))
    if cache is not None:
        cache.put_figures(key, computed.model_dump_json())
    return computed


@functools.cache
def _code_hash() -> str:
    """The code that computes figures, so an edited statistic never replays a stale one."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted([*package.glob("stats/*.py"), *package.glob("gating/*.py")]):
        digest.update(source.read_bytes())
    digest.update((package / "reporting" / "build.py").read_bytes())
    digest.update((package / "constants.py").read_bytes())
    return digest.hexdigest()


def _key(run: RubricRun, agreements: Agreements | None = None) -> str:
    """Everything the statistics and gates read, and nothing else: the rubric file, the
    version that computes them, and per case each answer's length and each grade (hashed
    row by row: 100,000 rows are never one string)."""
    cases = hashlib.sha256()
    for case in run.selected:
        result = run.cases.get(case.id)
        row = [case.id] if result is None else [case.id, *_read(result, run.loaded.rubric)]
        cases.update(_canonical(row))
    noise = sorted([list(k), v] for k, v in run.noise.items())
    material = {
        "version": __version__,
        "code": _code_hash(),
        "rubric": hashlib.sha256(run.loaded.path.read_bytes()).hexdigest(),
        "cases": cases.hexdigest(),
        "noise": [run.noise_grader, noise],
        "agreements": sorted([list(k), asdict(v)] for k, v in (agreements or {}).items()),
    }
    return hashlib.sha256(_canonical(material)).hexdigest()


def _read(result: CaseResult, rubric: Rubric) -> list[object]:
    """What the figures read of one case: each answer's length and each grade."""
    row: list[object] = []
    for alias in rubric.models:
        sample = result.samples.get(alias)
        row.append(len(sample.output_text) if sample and not sample.error else None)
        for grader in rubric.graders:
            grade = result.grade(alias, grader.name)
            if grade is None:
                row.append(None)
                continue
            row.append([grade.score, grade.passed, grade.ok, sorted(grade.details.items())])
    return row


def _canonical(value: object) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text.encode("utf-8") + b"\n"
