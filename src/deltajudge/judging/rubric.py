"""The rubric file: its models, graders, gates and checks, parsed with the file, line and
column of every error. The graders' schema is `grader_specs`, the gates' `gate_specs`.
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, model_validator

from deltajudge.errors import RubricError
from deltajudge.judging.gate_specs import CaseCheck, GateSpec, NoiseCheck
from deltajudge.judging.grader_specs import GraderSpec, ItemName, MultiGrader, Strict
from deltajudge.judging.yaml_positions import dotted, load_with_positions, nearest


class Rubric(Strict):
    name: ItemName = Field(min_length=1)
    description: str | None = None
    dataset: str
    models: list[str] = Field(min_length=1)
    graders: list[GraderSpec] = Field(min_length=1)
    gates: list[GateSpec] = Field(default_factory=list)
    case_check: CaseCheck | None = None
    noise_check: NoiseCheck | None = None
    #: ``all`` also compares every pair of candidates, not only each against the baseline.
    #: ``checkpoints``: ``models`` is the base then a job's checkpoints in training order,
    #: the final one last; each is also compared with the final (`gating.checkpoints`).
    compare: Literal["baseline", "all", "checkpoints"] = "baseline"
    #: How far a mean may fall below the accepted baseline report; ``auto`` uses the
    #: judge noise measured by ``noise_check`` (its minimum detectable delta).
    baseline_tolerance: float | Literal["auto"] | None = None
    #: When a case counts as regressed: ``step`` (default: a drop of one scale step on an
    #: integer scale, any drop on a continuous one), ``noise`` (a drop beyond the judge's
    #: measured noise, needs ``noise_check``), or a number (a drop larger than it).
    regression_threshold: Annotated[float, Field(ge=0)] | Literal["step", "noise"] | None = None
    #: ``holm`` adjusts the verdicts' p-values across this rubric's comparisons.
    correction: Literal["none", "holm"] = "none"
    #: The fine-tuning file(s) the candidates were trained on (relative to the rubric):
    #: evaluation prompts found in them are listed at collection (`cases.leakage`).
    training_file: Annotated[list[str], Field(min_length=1)] | str | None = None
    #: ``warn`` (default): a leaked prompt is a warning; ``fail``: collection fails.
    leakage: Literal["warn", "fail"] = "warn"
    _default_gates: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _check_references(self) -> Rubric:
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models: an alias appears twice in {self.models}")
        names = [g.name for g in self.graders]
        if len(set(names)) != len(names):
            raise ValueError(f"graders: grader names must be unique (got {names})")
        if self.baseline_tolerance == "auto" and self.noise_check is None:
            raise ValueError("baseline_tolerance: auto needs a noise_check to derive it from")
        if self.regression_threshold == "noise" and self.noise_check is None:
            raise ValueError("regression_threshold: noise needs a noise_check to measure it")
        if self.compare == "checkpoints":
            self._check_checkpoints()
        if "gates" not in self.model_fields_set:
            from deltajudge.judging.default_gates import default_gates

            defaulted = self.model_copy(
                update={"gates": default_gates(self.graders, len(self.models) > 1)}
            )
            defaulted._default_gates = True
            return defaulted
        return self

    def _check_checkpoints(self) -> None:
        if len(self.models) < 3:
            raise ValueError(
                "compare: checkpoints needs the base model and at least 2 checkpoints in "
                f"models (base first, the final checkpoint last; got {self.models})"
            )
        if self.primary_grader is None:
            raise ValueError(
                "compare: checkpoints ranks checkpoints by their mean score, and a pairwise "
                "grader gives none: add a score grader (the first one is the primary)"
            )

    @property
    def effective_correction(self) -> Literal["none", "holm"]:
        """``correction`` as the verdicts use it: a checkpoint sweep compares many
        checkpoints with one base, so it is Holm-corrected unless the file says
        ``correction: none``."""
        if self.compare == "checkpoints" and "correction" not in self.model_fields_set:
            return "holm"
        return self.correction

    @property
    def primary_grader(self) -> str | None:
        """The grader checkpoints are ranked by: the first one that scores a model alone."""
        return next((g.name for g in self.graders if g.type != "pairwise"), None)

    @property
    def final_checkpoint(self) -> str | None:
        return self.models[-1] if self.compare == "checkpoints" else None

    @property
    def training_files(self) -> list[str]:
        if self.training_file is None:
            return []
        return [self.training_file] if isinstance(self.training_file, str) else self.training_file

    @property
    def has_default_gates(self) -> bool:
        """The file has no ``gates:``; the run says which gates it applied instead."""
        return self._default_gates

    @property
    def baseline(self) -> str:
        return self.models[0]

    @property
    def candidates(self) -> list[str]:
        return self.models[1:]

    def grader(self, name: str) -> GraderSpec:
        return next(g for g in self.graders if g.name == name)

    def aliases(self) -> set[str]:
        """Every alias a run of this rubric calls: the models under test and the graders'."""
        return {*self.models, *self.judge_aliases()}

    def judge_aliases(self) -> set[str]:
        """Aliases the graders call (judges, embeddings), resolved with the models under test."""
        out: set[str] = set()
        for grader in self.graders:
            subs = grader.graders.values() if isinstance(grader, MultiGrader) else [grader]
            out |= {m for g in subs if (m := getattr(g, "model", None)) is not None}
        return out


def _error_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union tags (``graders.0.score_model.range`` -> ``graders.0.range``)."""
    tags = {
        "score_model",
        "label_model",
        "string_check",
        "python",
        "text_similarity",
        "multi",
        "pairwise",
    }
    return tuple(p for p in loc if not (isinstance(p, str) and (p in tags or "(" in p)))


def parse_rubric(
    text: str, path: Path
) -> tuple[Rubric, dict[tuple[int | str, ...], tuple[int, int]]]:
    try:
        data, positions = load_with_positions(text)
    except RecursionError:
        raise RubricError("not valid YAML: nested too deeply", path=path) from None
    except Exception as exc:  # yaml errors carry their own marks
        mark = getattr(exc, "problem_mark", None)
        raise RubricError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            path=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise RubricError("expected a mapping with name, dataset, models, graders", path=path)
    try:
        return Rubric.model_validate(data), positions
    except ValidationError as exc:
        raise _rubric_error(exc, path, positions) from None


def _rubric_error(
    exc: ValidationError, path: Path, positions: dict[tuple[int | str, ...], tuple[int, int]]
) -> RubricError:
    errors = exc.errors()
    # A misspelt key also makes the key it was meant to be "missing": name the typo first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = _error_path(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    named = re.match(r"^([a-z_]+): (.*)$", msg, re.DOTALL)
    if first["type"] == "value_error" and named:  # a validator naming its key: point at it
        where, msg = (*where, named.group(1)), named.group(2)
    position = nearest(positions, where)
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        msg = (
            "unknown grader type "
            f"{first.get('input', {}).get('type')!r}; expected one of: "
            "score_model, label_model, string_check, python, text_similarity, multi, pairwise"
        )
    elif "input" in first and first["type"] not in ("value_error",):
        msg += f" (got {first['input']!r})"
    label = dotted(where)
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return RubricError(
        f"{label}: {msg}{tail}" if label else msg + tail,
        path=path,
        line=position[0] if position else None,
        column=position[1] if position else None,
        hint=_did_you_mean(where[-1]) if first["type"] == "extra_forbidden" and where else None,
    )


def _did_you_mean(key: int | str) -> str | None:
    """The rubric key closest to a misspelt one (``pass_treshold`` -> ``pass_threshold``)."""
    close = difflib.get_close_matches(str(key), sorted(_rubric_keys()), n=1, cutoff=0.75)
    return f"did you mean {close[0]!r}?" if close else None


@functools.cache
def _rubric_keys() -> frozenset[str]:
    """Every key the rubric schema knows, at any depth (graders, gates, messages, ...)."""
    seen: set[type[BaseModel]] = set()

    def walk(annotation: object) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in seen:
                seen.add(annotation)
                for field in annotation.model_fields.values():
                    walk(field.annotation)
            return
        for arg in get_args(annotation):
            walk(arg)

    walk(Rubric)
    return frozenset(
        field.alias or name for model in seen for name, field in model.model_fields.items()
    )
