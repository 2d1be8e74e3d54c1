"""OpenAI Evals ``testing_criteria`` -> rubric graders, one grader type to the same type.

The rubric schema already speaks the Evals vocabulary, so most keys copy over. What this
module adds is what a hosted definition leaves implicit: a literal judge model id becomes
an alias (so the judge can be pointed at Azure, vLLM or a local model later), typed
content parts become plain text, and every semantic that cannot be reproduced exactly
(a hosted similarity implementation, an image input, a sandbox image) becomes a note
that the import writes into the rubric as a comment and prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deltajudge.judging.evals_source import EvalsFormatError

#: What OpenAI's cosine similarity used; deltajudge asks the alias's embeddings endpoint.
COSINE_EMBEDDINGS = "text-embedding-3-large"
EMBEDDINGS_ALIAS = "embeddings"

#: Similarity metrics OpenAI offered that deltajudge has no implementation of, and the
#: nearest one used instead (the note says scores will differ).
SUBSTITUTE_METRICS = {"gleu": "bleu", "meteor": "rouge_l"}

_KEYS: dict[str, tuple[str, ...]] = {
    "score_model": ("model", "input", "range", "pass_threshold", "sampling_params"),
    "label_model": ("model", "input", "labels", "passing_labels", "sampling_params"),
    "string_check": ("input", "reference", "operation"),
    "text_similarity": ("input", "reference", "evaluation_metric", "pass_threshold"),
    "python": ("source", "pass_threshold"),
    "multi": ("graders", "calculate_output", "pass_threshold"),
}
_TEMPLATE_SAMPLE = re.compile(r"sample\.(?!output_text\b)([A-Za-z_]+)")


@dataclass
class ImportedRubric:
    """A rubric file's content, the aliases its judges need, and what is not exact."""

    rubric: dict[str, Any]
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> literal model id
    notes: list[str] = field(default_factory=list)


def alias_for(model_id: str) -> str:
    """A config-safe alias that still reads as the model: ``gpt-4.1`` -> ``gpt-4-1``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", model_id).strip("-") or "judge"


class _Importer:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.notes: list[str] = []

    def note(self, where: str, text: str) -> None:
        self.notes.append(f"{where}: {text}")

    def alias(self, model_id: Any, where: str) -> str:
        if not isinstance(model_id, str) or not model_id:
            raise EvalsFormatError(f"{where}.model: expected a model id string (got {model_id!r})")
        alias = alias_for(model_id)
        self.aliases[alias] = model_id
        return alias

    def grader(self, raw: Any, where: str, *, nested: bool = False) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise EvalsFormatError(f"{where}: expected a grader object (got {raw!r})")
        kind = raw.get("type")
        if kind not in _KEYS or (nested and kind == "multi"):
            allowed = [k for k in _KEYS if not (nested and k == "multi")]
            raise EvalsFormatError(
                f"{where}.type: {kind!r} is not a grader deltajudge can run; "
                f"expected one of {', '.join(allowed)}"
            )
        label = f"{where} ({raw.get('name', kind)})"
        out: dict[str, Any] = {"name": raw.get("name") or where.replace("[", "_").strip("]")}
        out["type"] = kind
        for key in set(raw) - {"name", "type", *_KEYS[kind]}:
            self.note(label, f"`{key}` has no deltajudge equivalent and was left out")
        for key in _KEYS[kind]:
            if key in raw:
                out[key] = raw[key]
        if kind in ("score_model", "label_model"):
            if not isinstance(raw.get("input"), list) or not raw["input"]:
                raise EvalsFormatError(f"{label}.input: expected a list of messages")
            out["input"] = [
                self.message(m, f"{label}.input[{i}]") for i, m in enumerate(raw["input"])
            ]
        if "model" in out:
            out["model"] = self.alias(out["model"], label)
        getattr(self, f"_{kind}")(out, label)
        self._check_namespaces(out, label)
        return out

    def message(self, raw: Any, where: str) -> dict[str, str]:
        if not isinstance(raw, dict) or "role" not in raw:
            raise EvalsFormatError(f"{where}: expected {{role, content}} (got {raw!r})")
        return {"role": raw["role"], "content": self.text(raw.get("content"), where)}

    def text(self, content: Any, where: str) -> str:
        """Content parts to one template; an image part cannot be reproduced, so it is named."""
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else [content]
        texts = []
        for part in parts:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                self.note(where, f"a {kind} content part was left out (text only)")
        return "".join(texts)

    def _score_model(self, out: dict[str, Any], where: str) -> None:
        self.note(
            where,
            "the judge is now the alias "
            f"{out['model']!r}; scores match the hosted run only on the same model",
        )

    def _label_model(self, out: dict[str, Any], where: str) -> None:
        self._score_model(out, where)

    def _string_check(self, out: dict[str, Any], where: str) -> None:
        return None

    def _python(self, out: dict[str, Any], where: str) -> None:
        self.note(where, "runs in this Python process, not OpenAI's sandbox (packages may differ)")

    def _text_similarity(self, out: dict[str, Any], where: str) -> None:
        metric = out.get("evaluation_metric")
        if metric in SUBSTITUTE_METRICS:
            out["evaluation_metric"] = SUBSTITUTE_METRICS[metric]
            self.note(
                where,
                f"{metric} is not available; {SUBSTITUTE_METRICS[metric]} is used "
                "instead: scores will differ",
            )
        elif metric == "cosine":
            self.aliases[EMBEDDINGS_ALIAS] = COSINE_EMBEDDINGS
            out["model"] = EMBEDDINGS_ALIAS
            self.note(
                where,
                f"cosine uses the alias {EMBEDDINGS_ALIAS!r} "
                f"({COSINE_EMBEDDINGS}); the hosted embedding model was not documented",
            )
        else:
            self.note(
                where,
                f"{metric} comes from a maintained library (rapidfuzz, sacrebleu, "
                "rouge-score), not OpenAI's implementation: expect small differences",
            )

    def _multi(self, out: dict[str, Any], where: str) -> None:
        raw = out.get("graders")
        items = raw.items() if isinstance(raw, dict) else ((None, g) for g in raw or [])
        graders: dict[str, Any] = {}
        for key, sub in items:
            name = key if key is not None else alias_for(str(sub.get("name", ""))).replace("-", "_")
            graders[name] = self.grader(sub, f"{where}.graders.{name}", nested=True)
        out["graders"] = graders

    def _check_namespaces(self, out: dict[str, Any], where: str) -> None:
        templates = [m["content"] for m in out.get("input", []) if isinstance(m, dict)]
        templates += [v for k in ("input", "reference") if isinstance(v := out.get(k), str)]
        for name in sorted({m for t in templates for m in _TEMPLATE_SAMPLE.findall(t)}):
            self.note(where, f"sample.{name} does not exist here (only sample.output_text)")


def import_eval(
    definition: dict[str, Any], *, dataset: str, models: list[str], fallback_name: str
) -> ImportedRubric:
    """The rubric for an ``evals.create`` body; `EvalsFormatError` names the criterion."""
    importer = _Importer()
    graders = [
        importer.grader(raw, f"testing_criteria[{index}]")
        for index, raw in enumerate(definition["testing_criteria"])
    ]
    rubric: dict[str, Any] = {"name": definition.get("name") or fallback_name}
    rubric |= {"dataset": dataset, "models": models, "graders": graders}
    source = definition.get("data_source_config") or {}
    if source.get("type") not in (None, "custom"):
        importer.note(
            "data_source_config",
            f"type {source.get('type')!r} read OpenAI-hosted logs; give the items as a file",
        )
    return ImportedRubric(rubric=rubric, aliases=importer.aliases, notes=importer.notes)


def required_item_fields(definition: dict[str, Any]) -> list[str]:
    """What ``data_source_config.item_schema`` says every item must have."""
    schema = (definition.get("data_source_config") or {}).get("item_schema") or {}
    required = schema.get("required") or []
    return [str(name) for name in required]
