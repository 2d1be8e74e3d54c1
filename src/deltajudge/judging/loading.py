"""Load a rubric file with everything it refers to, checked before any call is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from deltajudge.cases import Case, load_dataset
from deltajudge.errors import RubricError
from deltajudge.judging.code_graders import METRIC_MODULES, load_python_function
from deltajudge.judging.formula import check_formula
from deltajudge.judging.gate_specs import PAIRED_METRICS
from deltajudge.judging.grader_specs import (
    GraderSpec,
    LabelModelGrader,
    MultiGrader,
    PairwiseGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from deltajudge.judging.rubric import Rubric, parse_rubric
from deltajudge.judging.templates import applies, compile_condition, compile_template, context
from deltajudge.judging.yaml_positions import dotted, nearest

Positions = dict[tuple[int | str, ...], tuple[int, int]]
Where = tuple[int | str, ...]


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
    rubric, positions = parse_rubric(_read_text(path), path)
    dataset_path = path.parent / rubric.dataset
    try:
        dataset_path = dataset_path.resolve()
        found = dataset_path.is_file()
    except (OSError, ValueError):  # a name no file system accepts (a NUL, too long)
        found = False
    if not found:
        line, col = nearest(positions, ("dataset",)) or (None, None)
        name, where = rubric.dataset, str(dataset_path)
        if not where.isprintable():
            name, where = repr(name), repr(where)
        raise RubricError(
            f"dataset: file not found: {name} (resolved to {where})",
            path=path,
            line=line,
            column=col,
            hint="`dataset` is relative to the rubric file",
        )
    cases = tuple(load_dataset(dataset_path))
    _check_references(rubric, path, positions)
    _check_code(rubric, path, positions)
    _check_conditions(rubric, cases, path, positions)
    _check_templates(rubric, cases, path, positions)
    return LoadedRubric(path=path, rubric=rubric, dataset_path=dataset_path, cases=cases)


def _read_text(path: Path) -> str:
    """The rubric's text; a binary or unreadable file is a located error, not a traceback."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is fine
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise RubricError(
            f"not UTF-8 text ({exc.reason}): is this a rubric file?", path=path, line=line
        ) from None
    except OSError as exc:
        raise RubricError(f"cannot read the rubric file: {exc.strerror}", path=path) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise RubricError("holds a NUL byte: is this a rubric file?", path=path, line=line)
    return text


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
        target = gate.candidate or gate.model
        paired = gate.metric in PAIRED_METRICS or gate.test is not None
        what, what_key = (gate.metric, "metric") if gate.test is None else (gate.test, "test")
        if paired and target == rubric.baseline:
            raise _error(
                path,
                positions,
                ("gates", index, "model" if gate.model else "candidate"),
                f"gates[{index}]: {what} compares a candidate with the baseline; "
                f"{target!r} is the baseline",
            )
        if paired and len(rubric.models) < 2:
            raise _error(
                path,
                positions,
                ("gates", index, what_key),
                f"gates[{index}].{what_key}: {what} needs a baseline and a candidate in models",
            )
    for key, named in (("noise_check", rubric.noise_check), ("case_check", rubric.case_check)):
        if named is not None and named.grader is not None and named.grader not in graders:
            raise _error(
                path,
                positions,
                (key, "grader"),
                f"{key}.grader: unknown grader {named.grader!r}",
            )
    noise = rubric.noise_check
    if noise is not None and not any(isinstance(g, ScoreModelGrader) for g in rubric.graders):
        raise _error(
            path,
            positions,
            ("noise_check",),
            "noise_check: needs a score_model grader to re-judge",
        )


def _check_code(rubric: Rubric, path: Path, positions: Positions) -> None:
    """Python functions import, formulas parse, metric libraries exist: now, not mid-run."""
    for index, grader in enumerate(rubric.graders):
        subs: list[tuple[Where, GraderSpec]] = [(("graders", index), grader)]
        if isinstance(grader, MultiGrader):
            try:
                check_formula(grader.calculate_output, set(grader.graders))
            except ValueError as exc:
                at: Where = ("graders", index, "calculate_output")
                raise _error(path, positions, at, f"graders[{index}].{exc}") from None
            subs = [(("graders", index, "graders", n), g) for n, g in grader.graders.items()]
        for where, spec in subs:
            if isinstance(spec, PythonGrader):
                try:
                    load_python_function(spec)
                except ValueError as exc:
                    raise _error(path, positions, where, f"{dotted(where)}.{exc}") from None
            elif isinstance(spec, TextSimilarityGrader) and spec.evaluation_metric != "cosine":
                _require_metric(spec.evaluation_metric, path, positions, where)


def _require_metric(
    metric: str, path: Path, positions: Positions, where: tuple[int | str, ...]
) -> None:
    module = METRIC_MODULES["rouge" if metric.startswith("rouge") else metric]
    try:
        __import__(module)
    except ImportError:
        error = _error(
            path,
            positions,
            where,
            f"{dotted(where)}.evaluation_metric: {metric} needs the {module} package",
        )
        error.hint = "pip install 'deltajudge[similarity]'"
        raise error from None


def _grader_templates(
    where: tuple[int | str, ...], grader: GraderSpec
) -> list[tuple[tuple[int | str, ...], str, bool]]:
    """(where, template, pairwise?) for every template in one grader."""
    if isinstance(grader, ScoreModelGrader | LabelModelGrader | PairwiseGrader):
        pair = isinstance(grader, PairwiseGrader)
        return [
            ((*where, "input", i, "content"), m.content, pair) for i, m in enumerate(grader.input)
        ]
    if isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        return [
            ((*where, "input"), grader.input, False),
            ((*where, "reference"), grader.reference, False),
        ]
    if isinstance(grader, MultiGrader):
        out = []
        for name, sub in grader.graders.items():
            out += _grader_templates((*where, "graders", name), sub)
        return out
    return []


def _templates(rubric: Rubric) -> list[tuple[tuple[int | str, ...], str, bool]]:
    out = []
    for index, grader in enumerate(rubric.graders):
        out += _grader_templates(("graders", index), grader)
    return out


def _check_conditions(
    rubric: Rubric, cases: tuple[Case, ...], path: Path, positions: Positions
) -> None:
    """Compile every ``when`` and evaluate it on every row now: a typo or a field some
    rows lack fails at collection, not by silently routing those rows nowhere."""
    for index, grader in enumerate(rubric.graders):
        if grader.when is None:
            continue
        where: Where = ("graders", index, "when")
        label = dotted(where)
        try:
            compile_condition(grader.when)
        except jinja2.TemplateSyntaxError as exc:
            raise _error(
                path, positions, where, f"{label}: not a jinja2 expression: {exc.message}"
            ) from None
        for case in cases:
            try:
                applies(grader.when, case)
            except jinja2.UndefinedError as exc:
                raise _error(
                    path,
                    positions,
                    where,
                    f"{label}: undefined on case {case.id} (line {case.line}): {exc.message}",
                ) from None


def _placeholder_context(case: Case, pair: bool) -> dict[str, Any]:
    """A template's variables for this case, with placeholder answers (one per turn)."""
    if not pair:
        return context(case, "<answer>")
    turns = len(case.turns)
    return context(
        case,
        "",
        answer_a="<answer a>",
        answer_b="<answer b>",
        answers_a=["<answer a>"] * turns,
        answers_b=["<answer b>"] * turns,
    )


def _check_templates(
    rubric: Rubric, cases: tuple[Case, ...], path: Path, positions: Positions
) -> None:
    """Render every template for every case it judges, so a missing variable fails now,
    not mid-run."""
    for where, source, pair in _templates(rubric):
        label = dotted(where)
        try:
            template = compile_template(source)
        except jinja2.TemplateError as exc:
            raise _error(
                path, positions, where, f"{label}: template syntax error: {exc.message}"
            ) from None
        when = rubric.graders[int(where[1])].when
        for case in cases:
            if not applies(when, case):  # a row routed to another grader
                continue
            try:
                template.render(_placeholder_context(case, pair))
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
            except Exception as exc:  # the template's own code failed: 1/0, a bad filter
                raise _error(
                    path,
                    positions,
                    where,
                    f"{label}: rendering failed for case {case.id}: {type(exc).__name__}: {exc}",
                ) from None
