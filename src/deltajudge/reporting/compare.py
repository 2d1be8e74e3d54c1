"""Reading saved reports and ``deltajudge diff``: what changed between two reports.

The case-by-case comparison itself lives with the ``baseline`` gate that uses it
(`deltajudge.gating.baseline`); this module loads reports (schema versions 1 and 2) and
lists the changes across a whole report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from deltajudge.constants import READABLE_SCHEMA_VERSIONS, REPORT_SCHEMA_VERSION
from deltajudge.errors import ConfigError
from deltajudge.gating.baseline import RubricChanges, compare_rubric
from deltajudge.reporting.model import Report

#: What to do about a baseline this version cannot read, in both spellings of the option.
_REACCEPT = (
    "re-accept the baseline: deltajudge run --update-baseline (plain pytest: --dj-update-baseline)"
)


def load_baseline(path: Path) -> Report:
    """The accepted report, or a `ConfigError` that says what to do about it. Its case
    rows stay in the file (`saved_report`): the gate reads those of changed cases only. A
    file not in the layout deltajudge writes (edited by hand) is read whole."""
    if not path.is_file():
        raise ConfigError(
            "baseline report not found",
            path=path,
            hint="accept a run first: deltajudge run --baseline PATH --update-baseline "
            "(plain pytest: --dj-baseline PATH --dj-update-baseline)",
        )
    from deltajudge.gating.baseline import case_digest
    from deltajudge.reporting.saved_report import read_saved_report

    saved = read_saved_report(path, case_digest)
    if saved is None:
        return load_report(path, role="baseline")
    return _readable(saved, path, "baseline")


def load_report(path: Path, role: str = "report") -> Report:
    """A saved report.json, or a `ConfigError` naming the file and the problem."""
    if not path.is_file():
        raise ConfigError("report not found", path=path, hint="give the path of a report.json")
    try:
        report = Report.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ConfigError(
            f"not a deltajudge report.json ({exc.error_count()} schema problems)", path=path
        ) from None
    return _readable(report, path, role)


def _readable(report: Report, path: Path, role: str) -> Report:
    """``report`` when this deltajudge reads its schema version."""
    if report.schema_version not in READABLE_SCHEMA_VERSIONS:
        raise ConfigError(
            f"{role} has schema_version {report.schema_version}; this deltajudge writes "
            f"{REPORT_SCHEMA_VERSION} and reads {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}",
            path=path,
            hint=_REACCEPT if role == "baseline" else None,
        )
    return report


@dataclass
class ReportChanges:
    rubrics: list[RubricChanges]
    rubrics_added: list[str]
    rubrics_removed: list[str]
    #: "alias: old id -> new id": why every output of that alias changed.
    models_changed: list[str] = field(default_factory=list)
    #: "alias (model id)": aliases only one of the reports ran (a candidate swapped in).
    models_added: list[str] = field(default_factory=list)
    models_removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"model {change}" for change in self.models_changed]
        out += [f"model added: {alias}" for alias in self.models_added]
        out += [f"model removed: {alias}" for alias in self.models_removed]
        out += [f"rubric added: {name}" for name in self.rubrics_added]
        out += [f"rubric removed: {name}" for name in self.rubrics_removed]
        for rubric in self.rubrics:
            lines = rubric.lines(tolerance=0.0)
            if len(lines) > 1:
                out += lines
        return out


def compare_reports(old: Report, new: Report) -> ReportChanges:
    before = {r.name: r for r in old.rubrics}
    after = {r.name: r for r in new.rubrics}
    return ReportChanges(
        rubrics=[compare_rubric(before[name], r) for name, r in after.items() if name in before],
        rubrics_added=[name for name in after if name not in before],
        rubrics_removed=[name for name in before if name not in after],
        models_changed=[
            f"{alias}: {old.models[alias].model} -> {info.model}"
            for alias, info in new.models.items()
            if alias in old.models and old.models[alias].model != info.model
        ],
        models_added=[f"{a} ({i.model})" for a, i in new.models.items() if a not in old.models],
        models_removed=[f"{a} ({i.model})" for a, i in old.models.items() if a not in new.models],
    )
