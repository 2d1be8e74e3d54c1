"""The rubric file schema, in the OpenAI Evals API's grader vocabulary.

A grader written for OpenAI's evals (``type: score_model``, ``input``, ``range``,
``pass_threshold``, ``labels``/``passing_labels``, ``operation``/``reference``) can be
pasted into a rubric file unchanged. Validation errors carry the file, line and column.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deltajudge.errors import RubricError
from deltajudge.judging.yaml_positions import load_with_positions, nearest


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageTemplate(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str
    type: Literal["message"] | None = None


class _GraderBase(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")

    def definition_hash(self) -> str:
        """Part of a judgment's cache key: editing the grader re-judges, nothing else does."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def pass_threshold_value(self) -> float | None:
        return None


class ScoreModelGrader(_GraderBase):
    type: Literal["score_model"]
    model: str
    input: list[MessageTemplate] = Field(min_length=1)
    range: tuple[float, float] = (0.0, 1.0)
    pass_threshold: float | None = None
    sampling_params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_range(self) -> ScoreModelGrader:
        low, high = self.range
        if not low < high:
            raise ValueError(f"range: expected [min, max] with min < max (got [{low}, {high}])")
        if self.pass_threshold is not None and not low <= self.pass_threshold <= high:
            raise ValueError(
                f"pass_threshold: expected a value inside range [{low}, {high}] "
                f"(got {self.pass_threshold})"
            )
        return self

    @property
    def pass_threshold_value(self) -> float | None:
        return self.pass_threshold


class LabelModelGrader(_GraderBase):
    type: Literal["label_model"]
    model: str
    input: list[MessageTemplate] = Field(min_length=1)
    labels: list[str] = Field(min_length=2)
    passing_labels: list[str] = Field(min_length=1)
    sampling_params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_labels(self) -> LabelModelGrader:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels: {unknown} are not in labels {self.labels}")
        return self

    @property
    def pass_threshold_value(self) -> float | None:
        return 1.0


class StringCheckGrader(_GraderBase):
    type: Literal["string_check"]
    input: str = "{{ sample.output_text }}"
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]

    @property
    def pass_threshold_value(self) -> float | None:
        return 1.0


GraderSpec = Annotated[
    ScoreModelGrader | LabelModelGrader | StringCheckGrader,
    Field(discriminator="type"),
]

GateMetric = Literal[
    "mean_delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "win_rate",
    "pass_rate",
    "mean",
    "regressions",
    "errors",
]


class GateSpec(_Strict):
    name: str | None = None
    metric: GateMetric
    grader: str
    model: str | None = None
    candidate: str | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> GateSpec:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class CaseCheck(_Strict):
    """What one case item asserts beyond "generated and graded without error"."""

    no_drop_beyond: float | None = Field(default=None, ge=0)
    min_score: float | None = None
    grader: str | None = None


class Rubric(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    dataset: str
    models: list[str] = Field(min_length=1)
    graders: list[GraderSpec] = Field(min_length=1)
    gates: list[GateSpec] = Field(default_factory=list)
    case_check: CaseCheck | None = None

    @model_validator(mode="after")
    def _check_references(self) -> Rubric:
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models: an alias appears twice in {self.models}")
        names = [g.name for g in self.graders]
        if len(set(names)) != len(names):
            raise ValueError(f"graders: grader names must be unique (got {names})")
        return self

    @property
    def baseline(self) -> str:
        return self.models[0]

    @property
    def candidates(self) -> list[str]:
        return self.models[1:]

    def grader(self, name: str) -> GraderSpec:
        return next(g for g in self.graders if g.name == name)

    def judge_aliases(self) -> set[str]:
        return {g.model for g in self.graders if isinstance(g, ScoreModelGrader | LabelModelGrader)}


def _error_path(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union tags (``graders.0.score_model.range`` -> ``graders.0.range``)."""
    tags = {"score_model", "label_model", "string_check", "function-after[_check_range()]"}
    return tuple(p for p in loc if not (isinstance(p, str) and (p in tags or "(" in p)))


def _dotted(path: tuple[int | str, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_rubric(
    text: str, path: Path
) -> tuple[Rubric, dict[tuple[int | str, ...], tuple[int, int]]]:
    try:
        data, positions = load_with_positions(text)
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
    first = exc.errors()[0]
    where = _error_path(first["loc"])
    position = nearest(positions, where)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        msg = (
            "unknown grader type "
            f"{first.get('input', {}).get('type')!r}; expected one of: "
            "score_model, label_model, string_check"
        )
    elif "input" in first and first["type"] not in ("value_error",):
        msg += f" (got {first['input']!r})"
    label = _dotted(where)
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return RubricError(
        f"{label}: {msg}{tail}" if label else msg + tail,
        path=path,
        line=position[0] if position else None,
        column=position[1] if position else None,
    )
