"""Assemble the `Report` from results, figures and gate outcomes: the only writer of it."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from deltajudge import __version__
from deltajudge.atomic import atomic_open
from deltajudge.constants import REPORT_SCHEMA_VERSION
from deltajudge.judging.grader_specs import LabelModelGrader, PairwiseGrader, ScoreModelGrader
from deltajudge.reporting.case_entries import CaseEntries, VerdictOf
from deltajudge.reporting.model import (
    ComparisonEntry,
    Figures,
    GraderFigures,
    GraderInfo,
    ModelFigures,
    ModelInfo,
    NoiseEntry,
    Regression,
    Report,
    RubricEntry,
    TokenEntry,
)
from deltajudge.reporting.redacted import MaskedCases, redacted, report_head_json
from deltajudge.results import RubricRun, RunResults

if TYPE_CHECKING:  # the statistics (scipy) load only when figures must be computed
    from deltajudge.gating.gates import Decisions
    from deltajudge.gating.outcome import Verdict
    from deltajudge.stats.rubric import Comparison, ModelGraderStats, RubricStats


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _figures(stats: ModelGraderStats) -> GraderFigures:
    rate = stats.pass_rate
    return GraderFigures(
        **asdict(stats.summary),
        errors=stats.errors,
        pass_rate=rate.rate if rate else None,
        pass_rate_ci_low=rate.ci_low if rate else None,
        pass_rate_ci_high=rate.ci_high if rate else None,
        passed=rate.passed if rate else None,
        mean_length=stats.mean_length,
    )


def _comparison(c: Comparison, verdict: Verdict) -> ComparisonEntry:
    """The paired figures go in as they are (the report's names are the dataclass's);
    McNemar and the length figures are prefixed, as one flat row reads in a table."""
    flips, length = c.mcnemar, c.length
    return ComparisonEntry(
        **asdict(c.paired),
        baseline=c.baseline,
        candidate=c.candidate,
        grader=c.grader,
        errors=c.errors,
        win_rate=c.paired.win_rate,
        mcnemar_fixed=flips.fixed if flips else None,
        mcnemar_broken=flips.broken if flips else None,
        mcnemar_p=flips.p_value if flips else None,
        baseline_mean_length=length.baseline_mean_len,
        candidate_mean_length=length.candidate_mean_len,
        baseline_length_corr=length.baseline_corr,
        candidate_length_corr=length.candidate_corr,
        length_adjusted_delta=length.adjusted_delta,
        length_adjusted_ci_low=length.adjusted_ci_low,
        length_adjusted_ci_high=length.adjusted_ci_high,
        regressions=[Regression(id=i, delta=d) for i, d in c.regressions],
        regression_rule=c.regression_rule,
        inconsistent=c.inconsistent,
        verdict=verdict,
    )


def _grader_info(run: RubricRun) -> list[GraderInfo]:
    out = []
    for g in run.loaded.rubric.graders:
        info = GraderInfo(name=g.name, type=g.type, pass_threshold=g.pass_threshold_value)
        if isinstance(g, ScoreModelGrader):
            info = info.model_copy(update={"model": g.model, "range": list(g.range)})
        elif isinstance(g, LabelModelGrader | PairwiseGrader):
            info = info.model_copy(update={"model": g.model})
        if isinstance(g, ScoreModelGrader | LabelModelGrader | PairwiseGrader):
            info = info.model_copy(update={"output": g.output.label()})
        out.append(info)
    return out


def figures(stats: RubricStats, decisions: Decisions) -> Figures:
    return Figures(
        models={
            alias: ModelFigures(graders={g: _figures(s) for g, s in by_grader.items()})
            for alias, by_grader in stats.models.items()
        },
        comparisons=[
            _comparison(c, v) for c, v in zip(stats.comparisons, decisions.verdicts, strict=True)
        ],
        gates=list(decisions.gates),
        noise=_noise(stats),
        checkpoints=decisions.checkpoints,
    )


def rubric_entry(run: RubricRun, figures: Figures, verdict: VerdictOf) -> RubricEntry:
    """The rubric's report entry; each case carries the verdict gating gives it."""
    loaded = run.loaded
    # a checkpoint below the final one on a case is a sweep figure, not a regression
    sweep = loaded.rubric.final_checkpoint
    regressed = {r.id for c in figures.comparisons if c.baseline != sweep for r in c.regressions}
    correction = loaded.rubric.effective_correction
    entry = RubricEntry(
        name=loaded.name,
        description=loaded.rubric.description,
        path=str(loaded.path),
        sha256=_sha256(loaded.path),
        dataset=str(loaded.dataset_path),
        dataset_sha256=_sha256(loaded.dataset_path),
        baseline=loaded.rubric.baseline,
        candidates=loaded.rubric.candidates,
        cases_total=len(loaded.cases),
        cases_selected=len(run.selected),
        graders=_grader_info(run),
        models=figures.models,
        comparisons=figures.comparisons,
        cases=[],
        gates=list(figures.gates),
        noise=figures.noise,
        correction=None if correction == "none" else correction,
        checkpoints=figures.checkpoints,
    )
    entry.cases = CaseEntries(run, regressed, verdict)  # built when read, never validated whole
    return entry


def _noise(stats: RubricStats) -> NoiseEntry | None:
    if stats.noise is None:
        return None
    return NoiseEntry(grader=stats.noise.grader, **asdict(stats.noise.noise))


def build_report(
    results: RunResults,
    rubrics: list[RubricEntry],
    *,
    offline: bool,
    rootdir: Path,
    notes: list[str],
) -> Report:
    models = {
        alias: ModelInfo(
            model=config.model,
            provider=config.provider,
            api=config.api,
            base_url=config.base_url,
            label=config.label,
            system=config.system,
            params=dict(config.params),
            job=config.job,
            tokens=TokenEntry(**asdict(results.tokens[alias]))
            if alias in results.tokens
            else TokenEntry(),
        )
        for alias, config in results.models.items()
    }
    return Report(
        schema_version=REPORT_SCHEMA_VERSION,
        deltajudge_version=__version__,
        created_at=datetime.fromtimestamp(results.started_at, UTC).isoformat(timespec="seconds"),
        duration_s=round(results.duration_s, 3),
        git_commit=git_commit(rootdir),
        offline=offline,
        calls=results.calls,
        cache_hits=results.cache_hits,
        notes=notes,
        models=models,
        rubrics=rubrics,
    )


def write_json(report: Report, directory: Path) -> Path:
    return write_report_json(report, directory / "report.json")


#: How `without_cases` leaves each rubric's rows in the indented JSON: ``cases`` is the
#: rubric's last key, and no JSON string holds a raw newline, so this is never a value.
_NO_CASES = b'"cases": []\n    }'
_ROW = b"\n        "  # a row of a rubric's cases starts here, at its indentation


def write_report_json(report: Report, path: Path) -> Path:
    """UTF-8 JSON, secrets masked, written row by row (a 100,000-case report is never one
    string in memory) and replacing the file atomically (also the baseline: a run killed
    mid-write leaves the previous file whole). The bytes are pydantic's own indented
    dump of the whole report."""
    clean = redacted(report)
    parts = report_head_json(clean, indent=2).split(_NO_CASES)
    assert len(parts) == len(clean.rubrics) + 1
    with atomic_open(path) as out:
        out.write(parts[0])
        for rubric, rest in zip(clean.rubrics, parts[1:], strict=True):
            out.write(b'"cases": [')
            separator = b""
            assert isinstance(rubric.cases, MaskedCases)
            for row in rubric.cases.json_rows(indent=2):
                out.write(separator + _ROW + row.replace(b"\n", _ROW))
                separator = b","
            out.write(b"\n      ]\n    }" if separator else b"]\n    }")
            out.write(rest)
    return path


def read_json(path: Path) -> Report:
    return Report.model_validate_json(path.read_text(encoding="utf-8"))
