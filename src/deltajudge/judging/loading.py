"""Load a rubric file with everything it refers to, checked before any call is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from deltajudge.cases import Case, load_dataset
from deltajudge.errors import RubricError
from deltajudge.judging.rubric import (
    LabelModelGrader,
    Rubric,
    ScoreModelGrader,
    StringCheckGrader,
    parse_rubric,
)
from deltajudge.judging.templates import compile_template, context
from deltajudge.judging.yaml_positions import nearest

Positions = dict[tuple[int | str, ...], tuple[int, int]]


@dataclass(frozen=True)
class LoadedRubric:
    path: Path
    rubric: Rubric
    dataset_path: Path
    cases: tuple[Case, ...]

    @property
    def name(self) -> str:
        return self.rubric.name


def load_rubric(path: Path) -> LoadedRubric:
    rubric, positions = parse_rubric(path.read_text(encoding="utf-8"), path)
    dataset_path = (path.parent / rubric.dataset).resolve()
    if not dataset_path.is_file():
        line, col = nearest(positions, ("dataset",)) or (None, None)
        raise RubricError(
            f"dataset: file not found: {rubric.dataset} (resolved to {dataset_path})",
            path=path,
            line=line,
            column=col,
            hint="`dataset` is relative to the rubric file",
        )
    cases = tuple(load_dataset(dataset_path))
    _check_references(rubric, path, positions)
    _check_templates(rubric, cases, path, positions)
    return LoadedRubric(path=path, rubric=rubric, dataset_path=dataset_path, cases=cases)


def _error(path: Path, positions: Positions, where: tuple[int | str, ...], msg: str) -> RubricError:
    line, col = nearest(positions, where) or (None, None)
    return RubricError(msg, path=path, line=line, column=col)


def _check_references(rubric: Rubric, path: Path, positions: Positions) -> None:
    graders = {g.name for g in rubric.graders}
    for index, gate in enumerate(rubric.gates):
        if gate.grader not in graders:
            raise _error(
                path,
                positions,
                ("gates", index, "grader"),
                f"gates[{index}].grader: unknown grader {gate.grader!r} "
                f"(graders: {', '.join(sorted(graders))})",
            )
        for key in ("model", "candidate"):
            alias = getattr(gate, key)
            if alias is not None and alias not in rubric.models:
                raise _error(
                    path,
                    positions,
                    ("gates", index, key),
                    f"gates[{index}].{key}: {alias!r} is not one of models {rubric.models}",
                )
        if gate.metric == "mean_delta" and len(rubric.models) < 2:
            raise _error(
                path,
                positions,
                ("gates", index, "metric"),
                f"gates[{index}].metric: mean_delta needs a baseline and a candidate in models",
            )
    check = rubric.case_check
    if check is not None and check.grader is not None and check.grader not in graders:
        raise _error(
            path,
            positions,
            ("case_check", "grader"),
            f"case_check.grader: unknown grader {check.grader!r}",
        )


def _templates(rubric: Rubric) -> list[tuple[tuple[int | str, ...], str]]:
    out: list[tuple[tuple[int | str, ...], str]] = []
    for index, grader in enumerate(rubric.graders):
        if isinstance(grader, ScoreModelGrader | LabelModelGrader):
            for m_index, message in enumerate(grader.input):
                out.append((("graders", index, "input", m_index, "content"), message.content))
        elif isinstance(grader, StringCheckGrader):
            out.append((("graders", index, "input"), grader.input))
            out.append((("graders", index, "reference"), grader.reference))
    return out


def _check_templates(
    rubric: Rubric, cases: tuple[Case, ...], path: Path, positions: Positions
) -> None:
    """Render every template for every case, so a missing variable fails now, not mid-run."""
    for where, source in _templates(rubric):
        label = ".".join(str(p) for p in where)
        try:
            template = compile_template(source)
        except jinja2.TemplateSyntaxError as exc:
            raise _error(
                path, positions, where, f"{label}: template syntax error: {exc.message}"
            ) from None
        for case in cases:
            try:
                template.render(context(case, "<answer>"))
            except jinja2.UndefinedError as exc:
                why = (
                    " (this data set has no reference answers)"
                    if "reference" in str(exc) and case.reference is None
                    else ""
                )
                raise _error(
                    path,
                    positions,
                    where,
                    f"{label}: undefined variable: {exc.message}{why} (case {case.id})",
                ) from None
