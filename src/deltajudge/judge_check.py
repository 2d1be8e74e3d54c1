"""``deltajudge validate-judge``: score both answers of every labelled pair with a rubric's
grader and see whether the judge agrees with the labels (see `stats.agreement`).

Single-answer graders score the preferred and the non-preferred answer separately (the
judge agrees when the preferred one scores higher); pairwise graders see both, in both
orders. The judge never sees the label: a grader whose template uses ``reference``
(which for a preference row is the preferred answer) is refused.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from deltajudge.cases import Case, Message
from deltajudge.cases.case import content_text
from deltajudge.cases.finetune_files import Row, read_rows
from deltajudge.errors import ConfigError, DatasetError, RubricError, UserInputError
from deltajudge.judging.grader_specs import GraderSpec, MultiGrader, PairwiseGrader
from deltajudge.judging.types import Grade, Sample
from deltajudge.settings import ModelConfig, Settings

if TYPE_CHECKING:  # the statistics import scipy, the caller the SDK: only when judging
    from deltajudge.generation.caller import Caller
    from deltajudge.judging.loading import LoadedRubric
    from deltajudge.stats.agreement import JudgeValidation

    #: Per rubric file: (grader, labels as written) -> the judge's agreement with them.
    RunAgreements = dict[Path, dict[tuple[str, str], JudgeValidation]]


@dataclass(frozen=True)
class PairVerdict:
    line: int
    outcome: int | None  # +1 agrees with the label, 0 tie, -1 disagrees, None: not judged
    preferred: Grade
    rejected: Grade | None  # None for pairwise graders (one grade for the pair)


@dataclass(frozen=True)
class HumanAgreement:
    """The judge against a person's labels of the same pairs."""

    labels: Path
    n: int
    kappa: float | None


@dataclass(frozen=True)
class JudgeCheck:
    grader: str
    pairs: Path
    validation: JudgeValidation
    verdicts: list[PairVerdict]
    human: HumanAgreement | None = None


#: How a person may say which answer of a pair is better.
HUMAN_LABELS = {
    "preferred": 1,
    "chosen": 1,
    "tie": 0,
    "non_preferred": -1,
    "non-preferred": -1,
    "rejected": -1,
}


def check_judge(
    rubric: Path,
    pairs: Path,
    grader: str | None = None,
    config: Path | None = None,
    labels: Path | None = None,
) -> JudgeCheck:
    from deltajudge.generation.models import resolve_models
    from deltajudge.judging.loading import load_rubric
    from deltajudge.rewards import settings_near

    loaded = load_rubric(rubric)
    spec = _pick(loaded.rubric.graders, grader, rubric)
    rows, cases = load_pairs(pairs)
    _refuse_reference(spec, cases[0], rubric)
    rootdir, settings = settings_near(rubric, config)
    subs = spec.graders.values() if isinstance(spec, MultiGrader) else [spec]
    aliases = {m for g in subs if (m := getattr(g, "model", None)) is not None}
    models = resolve_models(settings, aliases, os.environ)
    verdicts = asyncio.run(_judge_all(spec, models, settings, rootdir, rows, cases))
    validation = _validation(rows, verdicts)
    human = None if labels is None else _human(labels, cases, verdicts)
    return JudgeCheck(spec.name, pairs, validation, verdicts, human)


def load_pairs(pairs: Path) -> tuple[list[Row], list[Case]]:
    """The labelled pairs of a preference file, and each pair's prompt as a `Case`."""
    fmt, rows, problems = read_rows(pairs)
    if problems:
        raise DatasetError(str(problems[0]).split(": ", 1)[1], path=pairs, line=problems[0].line)
    if not rows or fmt == "openai-sft" or any(r.rejected is None for r in rows):
        raise DatasetError("expected preference pairs (preferred and non-preferred)", path=pairs)
    return rows, [_case(row) for row in rows]


def _validation(rows: Sequence[Row], verdicts: Sequence[PairVerdict]) -> JudgeValidation:
    from deltajudge.stats.agreement import validate_judge

    return validate_judge(
        [v.outcome for v in verdicts],
        [len(_answer(r.chosen)) for r in rows],
        [len(_answer(r.rejected or [])) for r in rows],
    )


def _human(path: Path, cases: Sequence[Case], verdicts: Sequence[PairVerdict]) -> HumanAgreement:
    """Cohen's κ of the judge and a person over the pairs both judged."""
    from deltajudge.stats.agreement import cohens_kappa

    judged = {c.id: v.outcome for c, v in zip(cases, verdicts, strict=True)}
    person: dict[str, int] = {}
    for line, case_id, label in read_labels(path):
        if case_id not in judged:
            raise DatasetError(f"case {case_id!r} is not in the pairs file", path=path, line=line)
        if label not in HUMAN_LABELS:
            raise DatasetError(
                f"label {label!r}: expected one of {', '.join(HUMAN_LABELS)}", path=path, line=line
            )
        person[case_id] = HUMAN_LABELS[label]
    both = [(j, h) for c, h in person.items() if (j := judged[c]) is not None]
    kappa = cohens_kappa([j for j, _ in both], [h for _, h in both])
    return HumanAgreement(path, len(both), kappa)


def read_labels(path: Path) -> list[tuple[int, str, str]]:
    """(line, case, label) from a CSV with a header or a JSONL file of {case, label}."""
    import csv
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError("labels file not found", path=path) from None
    out: list[tuple[int, str, str]] = []
    if path.suffix == ".csv":
        for row in csv.DictReader(text.splitlines()):
            if "case" not in row or "label" not in row:
                raise DatasetError("expected the columns case,label", path=path, line=1)
            out.append((len(out) + 2, str(row["case"]).strip(), str(row["label"]).strip()))
        return out
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                data = json.loads(line)
                out.append((number, str(data["case"]), str(data["label"]).strip()))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DatasetError(
                    'expected {"case": ..., "label": ...}', path=path, line=number
                ) from None
    return out


def _pick(graders: Sequence[GraderSpec], name: str | None, path: Path) -> GraderSpec:
    if name is not None:
        found = next((g for g in graders if g.name == name), None)
        if found is None:
            names = ", ".join(g.name for g in graders)
            raise ConfigError(f"--grader: no grader named {name!r} (graders: {names})", path=path)
        return found
    judges = [g for g in graders if getattr(g, "model", None) is not None]
    if not judges:
        raise ConfigError("the rubric has no model grader to validate", path=path)
    return judges[0]


def _answer(messages: Sequence[dict[str, object]]) -> str:
    return "\n".join(content_text(m.get("content")) for m in messages)


def _case(row: Row) -> Case:
    messages = tuple(Message(str(m["role"]), content_text(m.get("content"))) for m in row.prompt)
    item = {**row.extra, "input": {"messages": row.prompt}}
    return Case(id=str(row.extra.get("id", row.line)), messages=messages, item=item)


def _templates(spec: GraderSpec) -> list[str]:
    subs = list(spec.graders.values()) if isinstance(spec, MultiGrader) else [spec]
    out: list[str] = []
    for sub in subs:
        inputs = getattr(sub, "input", [])
        if isinstance(inputs, str):
            out += [inputs, getattr(sub, "reference", "")]
        else:
            out += [m.content for m in inputs]
    return out


def _refuse_reference(spec: GraderSpec, case: Case, rubric: Path) -> None:
    from deltajudge.judging.templates import compile_template, context

    extra = {"answer_a": "", "answer_b": ""}
    for source in _templates(spec):
        try:
            compile_template(source).render(context(case, "", **extra))
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"grader {spec.name!r}: its template needs {exc.message}; validating a judge "
                "on labelled pairs must not show it the preferred answer",
                path=rubric,
                hint="validate a grader that reads only the prompt and the answer",
            ) from None


async def _judge_all(
    spec: GraderSpec,
    models: Mapping[str, ModelConfig],
    settings: Settings,
    rootdir: Path,
    rows: Sequence[Row],
    cases: Sequence[Case],
) -> list[PairVerdict]:
    from deltajudge.engine import open_caller

    async with open_caller(models, settings, rootdir) as caller:
        return await judge_pairs(spec, caller, rows, cases)


async def judge_pairs(
    spec: GraderSpec, caller: Caller, rows: Sequence[Row], cases: Sequence[Case]
) -> list[PairVerdict]:
    """Every pair judged concurrently through ``caller`` (its cache and limits)."""
    from deltajudge.judging.graders import build_grader, build_pair_grader

    if isinstance(spec, PairwiseGrader):
        pair = build_pair_grader(spec, caller)

        async def one(row: Row, case: Case) -> PairVerdict:
            good, bad = _samples(row)
            grade = await pair(case, bad, good)  # the preferred answer as candidate
            outcome = None if not grade.ok else _sign(grade.score or 0.0)
            return PairVerdict(row.line, outcome, grade, None)

    else:
        single = build_grader(spec, caller)

        async def one(row: Row, case: Case) -> PairVerdict:
            good, bad = _samples(row)
            a, b = await asyncio.gather(single(case, good), single(case, bad))
            ok = a.ok and b.ok and a.score is not None and b.score is not None
            outcome = _sign((a.score or 0.0) - (b.score or 0.0)) if ok else None
            return PairVerdict(row.line, outcome, a, b)

    return list(await asyncio.gather(*(one(r, c) for r, c in zip(rows, cases, strict=True))))


def labels_path(loaded: LoadedRubric, labels: str) -> Path:
    """A ``judge_agreement`` gate's ``labels:`` is relative to the rubric file."""
    return (loaded.path.parent / labels).resolve()


def check_agreement_gates(loaded: LoadedRubric) -> None:
    """At collection: every ``judge_agreement`` gate's labels file is preference pairs
    its grader can judge without seeing the preferred answer (errors at the gate)."""
    from deltajudge.judging.rubric import parse_rubric
    from deltajudge.judging.yaml_positions import nearest

    gates = [(i, g) for i, g in enumerate(loaded.rubric.gates) if g.labels is not None]
    if not gates:
        return
    _, positions = parse_rubric(loaded.path.read_text(encoding="utf-8-sig"), loaded.path)
    for index, gate in gates:
        assert gate.labels is not None
        line, column = nearest(positions, ("gates", index, "labels")) or (None, None)
        try:
            _, cases = load_pairs(labels_path(loaded, gate.labels))
            _refuse_reference(loaded.rubric.grader(gate.grader), cases[0], loaded.path)
        except UserInputError as exc:
            raise RubricError(
                f"gates[{index}].labels: {exc.render()}",
                path=loaded.path,
                line=line,
                column=column,
                hint="labels: is a preference-pairs file (OpenAI or TRL format), relative "
                "to the rubric file",
            ) from None


async def judge_agreement_labels(loaded: Sequence[LoadedRubric], caller: Caller) -> RunAgreements:
    """The labels of every ``judge_agreement`` gate, judged in the run that gates on them
    (one judging per grader and file, shared by the gates that name it)."""
    out: RunAgreements = {}
    for rubric in loaded:
        wanted = {(g.grader, g.labels) for g in rubric.rubric.gates if g.labels is not None}
        found = out.setdefault(rubric.path, {})
        for grader, labels in sorted(wanted):
            assert labels is not None
            rows, cases = load_pairs(labels_path(rubric, labels))
            spec = rubric.rubric.grader(grader)
            found[(grader, labels)] = _validation(
                rows, await judge_pairs(spec, caller, rows, cases)
            )
    return out


def _samples(row: Row) -> tuple[Sample, Sample]:
    return (
        Sample(alias="preferred", output_text=_answer(row.chosen)),
        Sample(alias="non_preferred", output_text=_answer(row.rejected or [])),
    )


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)
