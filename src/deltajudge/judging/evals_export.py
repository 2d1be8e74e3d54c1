"""Rubric graders -> OpenAI Evals ``testing_criteria`` and reinforcement fine-tuning graders.

Azure OpenAI's ``/openai/v1/evals`` still takes the ``evals.create`` body, and a
reinforcement fine-tuning job takes one grader object: the same rubric can be both, so a
team keeps one definition. Aliases are written back as the literal model ids of the
config; deltajudge-only settings (``samples``, ``scoring: logprobs``) are named in the notes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jinja2
from jinja2 import meta

from deltajudge.judging.contracts import OutputContract
from deltajudge.judging.evals_import import alias_for
from deltajudge.judging.evals_source import EvalsFormatError
from deltajudge.judging.grader_specs import (
    GraderSpec,
    LabelModelGrader,
    MessageTemplate,
    MultiGrader,
    PairwiseGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)
from deltajudge.judging.rubric import Rubric

ModelIds = Callable[[str], str]

_ENV = jinja2.Environment()

LABEL_MODEL_RFT = (
    "label_model graders cannot be reinforcement fine-tuning graders: RFT needs a numeric "
    "reward and a label_model returns a label; use a score_model (or a python grader that "
    "maps labels to numbers)"
)


class _Exporter:
    def __init__(self, model_id: ModelIds) -> None:
        self.model_id = model_id
        self.notes: list[str] = []

    def criterion(self, spec: GraderSpec, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": spec.type, "name": spec.name}
        self.check_names(spec, where)
        self.check_deltajudge_only(spec, where)
        if isinstance(spec, ScoreModelGrader):
            out |= self._judge(spec) | {"range": list(spec.range)}
            if spec.pass_threshold is not None:
                out["pass_threshold"] = spec.pass_threshold
            if spec.samples != 1:
                self.notes.append(
                    f"{where}: samples: {spec.samples} (the mean of k judgments) "
                    "is deltajudge's; the export judges once"
                )
            if spec.scoring != "json":
                self.notes.append(
                    f"{where}: scoring: {spec.scoring} is deltajudge's; "
                    "the export reads the judge's number"
                )
        elif isinstance(spec, LabelModelGrader):
            out |= self._judge(spec)
            out |= {"labels": spec.labels, "passing_labels": spec.passing_labels}
        elif isinstance(spec, StringCheckGrader):
            out |= {"input": spec.input, "reference": spec.reference, "operation": spec.operation}
        elif isinstance(spec, TextSimilarityGrader):
            out |= {"input": spec.input, "reference": spec.reference}
            out["evaluation_metric"] = spec.evaluation_metric
            if spec.model is not None:
                self.notes.append(
                    f"{where}: cosine used the alias {spec.model!r} for embeddings; "
                    "OpenAI's grader uses its own embedding model"
                )
            if spec.pass_threshold is not None:
                out["pass_threshold"] = spec.pass_threshold
            else:
                self.notes.append(f"{where}: OpenAI requires pass_threshold on text_similarity")
        elif isinstance(spec, PythonGrader):
            out["source"] = self._source(spec, where)
            if spec.pass_threshold is not None:
                out["pass_threshold"] = spec.pass_threshold
        elif isinstance(spec, MultiGrader):
            out["graders"] = {
                key: self.criterion(sub, f"{where}.graders.{key}")
                for key, sub in spec.graders.items()
            }
            out["calculate_output"] = spec.calculate_output
            if spec.pass_threshold is not None:
                out["pass_threshold"] = spec.pass_threshold
        else:
            raise EvalsFormatError(
                f"{where}: {spec.type} graders compare two answers; OpenAI graders score one"
            )
        return out

    def _judge(self, spec: ScoreModelGrader | LabelModelGrader) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model_id(spec.model),
            "input": [_message(m) for m in spec.input],
        }
        if spec.sampling_params:
            out["sampling_params"] = dict(spec.sampling_params)
        return out

    def _source(self, spec: PythonGrader, where: str) -> str:
        """A ``function:`` grader's module is inlined: the hosted sandbox has no repo."""
        if spec.source is not None:
            return spec.source
        assert spec.function is not None
        module_name, _, attr = spec.function.partition(":")
        source = inspect.getsource(importlib.import_module(module_name))
        self.notes.append(
            f"{where}: {spec.function} was inlined with its module's source; "
            "OpenAI's sandbox has only its own packages"
        )
        if attr != "grade":  # OpenAI's grade() returns a number; ours may return a dict
            source += (
                f"\n\ndef grade(sample, item):\n    result = {attr}(sample, item)\n"
                '    return result["score"] if isinstance(result, dict) else result\n'
            )
        return source

    def check_deltajudge_only(self, spec: GraderSpec, where: str) -> None:
        """``when:`` routing and ``output:`` contracts have no field in OpenAI's graders:
        dropping them silently would export a grader that judges other rows, or reads
        its verdict another way, than the rubric's."""
        if spec.when is not None:
            self.notes.append(
                f"{where}: when: {spec.when} is deltajudge's routing and is not exported; "
                "OpenAI runs every testing criterion on every item, so this grader will "
                "judge all rows"
            )
        output = getattr(spec, "output", None)
        if isinstance(output, OutputContract) and output != OutputContract():
            self.notes.append(
                f"{where}: output: {output.label()} (how deltajudge reads the verdict) is not "
                "exported; OpenAI reads its own structured output, and the messages go as "
                "written"
            )

    def check_names(self, spec: GraderSpec, where: str) -> None:
        """OpenAI templates see only ``item`` and ``sample``; ours also ``prompt`` & co."""
        sources = [m.content for m in getattr(spec, "input", []) if isinstance(m, MessageTemplate)]
        sources += [
            v for k in ("input", "reference") if isinstance(v := getattr(spec, k, None), str)
        ]
        names = set()
        for source in sources:
            names |= meta.find_undeclared_variables(_ENV.parse(source)) - {"item", "sample"}
        if names:
            self.notes.append(
                f"{where}: the template uses {', '.join(sorted(names))}, which OpenAI's "
                "templates do not have (only item.* and sample.*): rewrite it as item.<field>"
            )


def _message(template: MessageTemplate) -> dict[str, str]:
    return {"type": "message", "role": template.role, "content": template.content}


def export_criteria(rubric: Rubric, model_id: ModelIds) -> tuple[list[dict[str, Any]], list[str]]:
    """``testing_criteria`` for every grader (pairwise ones are refused) and the notes."""
    exporter = _Exporter(model_id)
    criteria = [
        exporter.criterion(spec, f"graders[{index}] ({spec.name})")
        for index, spec in enumerate(rubric.graders)
    ]
    return criteria, exporter.notes


def export_rft_grader(
    rubric: Rubric, model_id: ModelIds, grader: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The ``grader`` a reinforcement fine-tuning job takes.

    One grader as itself; several as a ``multi`` keyed by name whose output is their mean.
    """
    specs: Sequence[GraderSpec] = rubric.graders
    if grader is not None:
        specs = [g for g in rubric.graders if g.name == grader]
        if not specs:
            names = ", ".join(g.name for g in rubric.graders)
            raise EvalsFormatError(f"--grader: no grader named {grader!r} (graders: {names})")
    for spec in specs:
        subs = spec.graders.values() if isinstance(spec, MultiGrader) else [spec]
        for sub in subs:
            if isinstance(sub, LabelModelGrader):
                raise EvalsFormatError(f"grader {sub.name!r}: {LABEL_MODEL_RFT}")
            if isinstance(sub, PairwiseGrader):
                raise EvalsFormatError(f"grader {sub.name!r}: RFT graders score one answer")
    exporter = _Exporter(model_id)
    if len(specs) == 1:
        return exporter.criterion(specs[0], specs[0].name), exporter.notes
    keys = [alias_for(spec.name).replace("-", "_") for spec in specs]
    out = {
        "type": "multi",
        "name": rubric.name,
        "graders": {k: exporter.criterion(s, s.name) for k, s in zip(keys, specs, strict=True)},
        "calculate_output": f"({' + '.join(keys)}) / {len(keys)}",
    }
    exporter.notes.append(
        f"the reward is the mean of {', '.join(keys)}; edit calculate_output "
        "to weight them (mind their ranges)"
    )
    return out, exporter.notes


def item_schema(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema for the data set's rows: what ``data_source_config`` declares."""
    kinds = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        list: "array",
        dict: "object",
    }
    properties: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            properties.setdefault(key, {"type": kinds.get(type(value), "string")})
    required = [key for key in properties if all(key in row for row in rows)]
    return {"type": "object", "properties": properties, "required": required}
