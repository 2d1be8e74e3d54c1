"""The rubric file schema, in the OpenAI Evals API's grader vocabulary.

A grader written for OpenAI's evals (``type: score_model``, ``input``, ``range``,
``pass_threshold``, ``labels``/``passing_labels``, ``operation``/``reference``) can be
pasted into a rubric file unchanged. Validation errors carry the file, line and column.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from deltajudge.errors import RubricError
from deltajudge.judging.contracts import PRESETS, OutputContract
from deltajudge.judging.yaml_positions import dotted, load_with_positions, nearest


class _Strict(BaseModel):
    #: ``.inf`` / ``.nan`` are valid YAML floats but never a valid range, threshold or bound.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _one_line(value: str | None) -> str | None:
    """A rubric or gate name names pytest items (``rubric::gate``) and report sections."""
    if value is not None and (not value.strip() or re.search(r"::|[\x00-\x1f\x7f]", value)):
        raise ValueError(f"expected a one-line name without '::' (got {value!r})")
    return value


#: A name that becomes part of a pytest node id.
ItemName = Annotated[str, AfterValidator(_one_line)]


class MessageTemplate(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str
    type: Literal["message"] | None = None


_DEFAULT_OUTPUT = OutputContract().model_dump(mode="json")


def _check_output(
    output: OutputContract, sampling_params: dict[str, Any], *, pairwise: bool = False
) -> None:
    """A JSON contract sets the response format itself; a text one sends params as given."""
    if output.verdicts is not None and not pairwise:
        raise ValueError(
            "output: verdicts maps a pairwise judge's labels to a, b or tie; this grader "
            "reads a score or one of its labels: drop `verdicts`"
        )
    if output.is_text:
        return
    for key in ("response_format", "text"):
        if key in sampling_params:
            raise ValueError(
                f"sampling_params: {key} conflicts with output: json, which asks for "
                f"structured output itself; to send your own {key}, declare a text "
                f"contract: output: {{format: text, preset: ...}} (presets: {', '.join(PRESETS)})"
            )


class _GraderBase(_Strict):
    #: Criteria names from OpenAI evals have spaces ("Good Vibes Grader"): any one line.
    name: str = Field(min_length=1, pattern=r"^\S(?:[^\n]*\S)?$")
    #: A jinja2 expression on the row (``item.category == 'math'``): the grader judges
    #: only the rows where it is true, and its figures count only those rows.
    when: str | None = Field(default=None, min_length=1)

    def definition_hash(self) -> str:
        """Part of a judgment's cache key: editing the grader re-judges, nothing else does."""
        data = self.model_dump(mode="json")
        if data.get("output") == _DEFAULT_OUTPUT:  # graders from before contracts keep their key
            del data["output"]
        canonical = json.dumps(data, sort_keys=True)
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
    #: Judge each answer k times and report the mean (and the spread in the report).
    samples: int = Field(default=1, ge=1, le=20)
    #: ``logprobs``: the probability-weighted score over the score tokens (G-Eval).
    scoring: Literal["json", "logprobs"] = "json"
    #: How the verdict is written and read: ``json``, or a text format (see `contracts`).
    output: OutputContract = Field(default_factory=OutputContract)

    @model_validator(mode="after")
    def _check_range(self) -> ScoreModelGrader:
        _check_output(self.output, self.sampling_params)
        if self.scoring == "logprobs" and self.output.is_text:
            raise ValueError(
                "scoring: logprobs reads token probabilities after its own one-line "
                "instruction; it takes no text output contract (drop `output`)"
            )
        if self.output.preset in ("verdict_brackets", "grade"):
            raise ValueError(
                f"output: preset {self.output.preset} reads a label, not a number; "
                "score_model takes rating_brackets, score or number"
            )
        low, high = self.range
        if not low < high:
            raise ValueError(f"range: expected [min, max] with min < max (got [{low:g}, {high:g}])")
        if self.pass_threshold is not None and not low <= self.pass_threshold <= high:
            raise ValueError(
                f"pass_threshold: expected a value inside range [{low:g}, {high:g}] "
                f"(got {self.pass_threshold:g})"
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
    output: OutputContract = Field(default_factory=OutputContract)

    @model_validator(mode="after")
    def _check_labels(self) -> LabelModelGrader:
        _check_output(self.output, self.sampling_params)
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


class PythonGrader(_GraderBase):
    """``source`` defines ``grade(sample, item)``; or ``function`` names ``module:function``."""

    type: Literal["python"]
    source: str | None = None
    function: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    pass_threshold: float | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PythonGrader:
        if (self.source is None) == (self.function is None):
            raise ValueError("give exactly one of `source` (code) or `function` (module:function)")
        return self

    @property
    def pass_threshold_value(self) -> float | None:
        return self.pass_threshold


SimilarityMetric = Literal[
    "fuzzy_match",
    "bleu",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
    "cosine",
]


class TextSimilarityGrader(_GraderBase):
    type: Literal["text_similarity"]
    evaluation_metric: SimilarityMetric
    input: str = "{{ sample.output_text }}"
    reference: str = "{{ reference }}"
    pass_threshold: float | None = None
    #: ``cosine`` only: the alias whose embeddings endpoint is used.
    model: str | None = None

    @model_validator(mode="after")
    def _cosine_needs_model(self) -> TextSimilarityGrader:
        if self.evaluation_metric == "cosine" and self.model is None:
            raise ValueError("evaluation_metric cosine needs `model`: an alias with embeddings")
        return self

    @property
    def pass_threshold_value(self) -> float | None:
        return self.pass_threshold


class PairwiseGrader(_GraderBase):
    """MT-Bench style: which of two answers is better. Judged twice, order swapped."""

    type: Literal["pairwise"]
    model: str
    input: list[MessageTemplate] = Field(min_length=1)
    sampling_params: dict[str, Any] = Field(default_factory=dict)
    output: OutputContract = Field(default_factory=OutputContract)

    @model_validator(mode="after")
    def _check_pair_output(self) -> PairwiseGrader:
        _check_output(self.output, self.sampling_params, pairwise=True)
        if self.output.preset in ("rating_brackets", "score", "number"):
            raise ValueError(
                f"output: preset {self.output.preset} reads a number; a pairwise judge "
                "names the better answer: use verdict_brackets or a pattern"
            )
        return self


SimpleGraderSpec = Annotated[
    ScoreModelGrader | LabelModelGrader | StringCheckGrader | PythonGrader | TextSimilarityGrader,
    Field(discriminator="type"),
]


class MultiGrader(_GraderBase):
    """Combines named graders with a formula, e.g. ``0.7 * tone + 0.3 * similar``."""

    type: Literal["multi"]
    graders: dict[str, SimpleGraderSpec] = Field(min_length=1)
    calculate_output: str
    pass_threshold: float | None = None

    @model_validator(mode="after")
    def _no_routed_parts(self) -> MultiGrader:
        routed = [name for name, sub in self.graders.items() if sub.when is not None]
        if routed:
            raise ValueError(
                f"graders: sub-grader {routed[0]} has `when`; a multi grader's parts are "
                "combined on every row it judges: put `when` on the multi grader itself"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _name_from_key(cls, data: Any) -> Any:
        """A sub-grader's key is its name: ``{tone: {type: score_model, ...}}`` suffices."""
        if isinstance(data, dict) and isinstance(data.get("graders"), dict):
            data = {
                **data,
                "graders": {
                    key: {"name": key, **sub} if isinstance(sub, dict) else sub
                    for key, sub in data["graders"].items()
                },
            }
        return data

    @property
    def pass_threshold_value(self) -> float | None:
        return self.pass_threshold


GraderSpec = Annotated[
    ScoreModelGrader
    | LabelModelGrader
    | StringCheckGrader
    | PythonGrader
    | TextSimilarityGrader
    | MultiGrader
    | PairwiseGrader,
    Field(discriminator="type"),
]

GateMetric = Literal[
    "mean_delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "p_better",
    "p_worse",
    "win_rate",
    "pass_rate",
    "mean",
    "regressions",
    "errors",
    "judge_agreement",
]

#: Named gates on a comparison's verdict (`deltajudge.gating.verdict`): superiority, no
#: significant regression, non-inferiority within a margin, equivalence (TOST).
GateTest = Literal["better", "not_worse", "noninferior", "equivalent"]


class GateSpec(_Strict):
    """A gate: either a bound on a figure (``metric`` with ``min``/``max``, inclusive, or
    ``above``/``below``, strict) or a named test (``test``, with ``margin`` for
    ``noninferior`` and ``equivalent``)."""

    name: ItemName | None = None
    metric: GateMetric | None = None
    test: GateTest | None = None
    margin: float | None = Field(default=None, gt=0)
    grader: str
    model: str | None = None
    candidate: str | None = None
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    #: ``judge_agreement`` only: labelled preference pairs (relative to the rubric file)
    #: the grader's judge must agree with (`deltajudge.judge_check`).
    labels: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_bounds(self) -> GateSpec:
        bounds = [b for b in (self.min, self.max, self.above, self.below) if b is not None]
        if (self.metric == "judge_agreement") != (self.labels is not None):
            raise ValueError(
                "labels: a judge_agreement gate needs `labels` (a preference-pairs file) "
                "and only a judge_agreement gate takes it"
            )
        if self.metric == "judge_agreement" and (self.model or self.candidate):
            raise ValueError(
                "model: a judge_agreement gate checks the grader's judge, not a model under "
                "test: drop `model`/`candidate`"
            )
        if (self.metric is None) == (self.test is None):
            raise ValueError("a gate needs either `metric` (with bounds) or `test`, not both")
        if self.test is not None:
            if bounds:
                raise ValueError(f"test: a `{self.test}` gate takes no min/max/above/below")
            needs_margin = self.test in ("noninferior", "equivalent")
            if needs_margin and self.margin is None:
                raise ValueError(f"margin: a `{self.test}` gate needs a margin > 0")
            if not needs_margin and self.margin is not None:
                raise ValueError(f"margin: a `{self.test}` gate takes no margin")
            return self
        if self.margin is not None:
            raise ValueError("margin: only `noninferior` and `equivalent` tests take a margin")
        if not bounds:
            raise ValueError("a gate needs `min`, `max`, `above` or `below`")
        low = max((b for b in (self.min, self.above) if b is not None), default=None)
        high = min((b for b in (self.max, self.below) if b is not None), default=None)
        if low is not None and high is not None and low > high:
            raise ValueError(f"the lower bound ({low}) is above the upper bound ({high})")
        return self


class NoiseCheck(_Strict):
    """Re-judge a sample of answers to measure how much the judge disagrees with itself."""

    cases: int = Field(default=20, ge=2)
    repeats: int = Field(default=3, ge=2, le=20)
    grader: str | None = None


class CaseCheck(_Strict):
    """What one case item asserts beyond "generated and graded without error"."""

    no_drop_beyond: float | None = Field(default=None, ge=0)
    min_score: float | None = None
    grader: str | None = None


class Rubric(_Strict):
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
    first = exc.errors()[0]
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
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return RubricError(
        f"{label}: {msg}{tail}" if label else msg + tail,
        path=path,
        line=position[0] if position else None,
        column=position[1] if position else None,
    )
