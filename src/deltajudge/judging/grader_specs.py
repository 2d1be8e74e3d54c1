"""The graders of a rubric file, in the OpenAI Evals API's grader vocabulary.

A grader written for OpenAI's evals (``type: score_model``, ``input``, ``range``,
``pass_threshold``, ``labels``/``passing_labels``, ``operation``/``reference``) can be
pasted into a rubric file unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from deltajudge.judging.contracts import PRESETS, OutputContract


class Strict(BaseModel):
    #: ``.inf`` / ``.nan`` are valid YAML floats but never a valid range, threshold or bound.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _one_line(value: str | None) -> str | None:
    """A rubric or gate name names pytest items (``rubric::gate``) and report sections."""
    if value is not None and (not value.strip() or re.search(r"::|[\x00-\x1f\x7f]", value)):
        raise ValueError(f"expected a one-line name without '::' (got {value!r})")
    return value


#: A name that becomes part of a pytest node id.
ItemName = Annotated[str, AfterValidator(_one_line)]


class MessageTemplate(Strict):
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


class _GraderBase(Strict):
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
