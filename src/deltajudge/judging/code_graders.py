"""Graders that need no judge: string checks, Python functions, text similarity.

Metric implementations come from maintained libraries (rapidfuzz, sacrebleu,
rouge-score), imported only when a rubric uses them.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from deltajudge.cases import Case
from deltajudge.errors import CallError
from deltajudge.generation.caller import Caller
from deltajudge.judging.grader_specs import PythonGrader, StringCheckGrader, TextSimilarityGrader
from deltajudge.judging.templates import context, render
from deltajudge.judging.types import Grade, Sample

GraderFn = Callable[[Case, Sample], Awaitable[Grade]]
PythonFunction = Callable[[dict[str, Any], dict[str, Any]], Any]

#: Which extra provides each metric's library, for the error a user sees without it.
METRIC_MODULES = {"fuzzy_match": "rapidfuzz", "bleu": "sacrebleu", "rouge": "rouge_score"}


def string_check(spec: StringCheckGrader) -> GraderFn:
    async def grade(case: Case, sample: Sample) -> Grade:
        ctx = context(case, sample.output_text)
        value, reference = render(spec.input, ctx), render(spec.reference, ctx)
        if spec.operation == "eq":
            ok = value == reference
        elif spec.operation == "ne":
            ok = value != reference
        elif spec.operation == "like":
            ok = reference in value
        else:
            ok = reference.lower() in value.lower()
        return Grade(score=1.0 if ok else 0.0, passed=ok, reasoning=f"{spec.operation} check")

    return grade


def load_python_function(spec: PythonGrader) -> PythonFunction:
    """The grader's function; `ValueError` with the reason when it cannot be had."""
    if spec.source is not None:
        namespace: dict[str, Any] = {}
        try:
            exec(compile(spec.source, f"<grader {spec.name}>", "exec"), namespace)
        except SyntaxError as exc:
            raise ValueError(f"source: line {exc.lineno}: {exc.msg}") from None
        function = namespace.get("grade")
        if not callable(function):
            raise ValueError("source: must define a function grade(sample, item)")
        return function  # type: ignore[no-any-return]
    assert spec.function is not None
    module_name, _, attr = spec.function.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"function: cannot import {module_name!r} ({exc})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ValueError(f"function: {module_name!r} has no function {attr!r}")
    return function  # type: ignore[no-any-return]


def python_grader(spec: PythonGrader) -> GraderFn:
    function = load_python_function(spec)

    async def grade(case: Case, sample: Sample) -> Grade:
        try:
            value = function({"output_text": sample.output_text, "model": sample.alias}, case.item)
            if inspect.isawaitable(value):
                value = await value
            reasoning = None
            if isinstance(value, dict):
                reasoning = value.get("reasoning")
                value = value["score"]
            score = float(value)
        except Exception:  # the user's code: its traceback goes into the report
            return Grade(error=f"python grader raised:\n{traceback.format_exc(limit=5)}")
        if math.isnan(score):
            return Grade(error="python grader returned NaN")
        passed = None if spec.pass_threshold is None else score >= spec.pass_threshold
        return Grade(score=score, passed=passed, reasoning=reasoning)

    return grade


def similarity_function(metric: str) -> Callable[[str, str], float]:
    """``(output, reference) -> score in [0, 1]`` for the lexical metrics."""
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz

        return lambda a, b: float(fuzz.ratio(a, b)) / 100.0
    if metric == "bleu":
        import sacrebleu

        # sacrebleu can return 100.00000000000004 for a perfect match: keep 0-1 exact.
        return lambda a, b: min(1.0, float(sacrebleu.sentence_bleu(a, [b]).score) / 100.0)
    from rouge_score import rouge_scorer

    kind = "rougeL" if metric == "rouge_l" else f"rouge{metric[-1]}"
    scorer = rouge_scorer.RougeScorer([kind])
    return lambda a, b: float(scorer.score(b, a)[kind].fmeasure)


def text_similarity(spec: TextSimilarityGrader, caller: Caller) -> GraderFn:
    measure = (
        None if spec.evaluation_metric == "cosine" else similarity_function(spec.evaluation_metric)
    )

    async def grade(case: Case, sample: Sample) -> Grade:
        ctx = context(case, sample.output_text)
        value, reference = render(spec.input, ctx), render(spec.reference, ctx)
        if measure is not None:
            score = await asyncio.to_thread(measure, value, reference)
        else:
            assert spec.model is not None
            try:
                first, second = await caller.embed(spec.model, (value, reference))
            except CallError as exc:
                return Grade(error=f"embeddings call failed: {exc}")
            score = _cosine(first, second)
        passed = None if spec.pass_threshold is None else score >= spec.pass_threshold
        return Grade(
            score=score, passed=passed, reasoning=f"{spec.evaluation_metric} = {score:.3f}"
        )

    return grade


def _cosine(a: list[float], b: list[float]) -> float:
    import numpy as np

    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / norm if norm else 0.0
