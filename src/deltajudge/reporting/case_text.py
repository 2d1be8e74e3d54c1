"""One case as plain text: the prompt, each model's answer and each grade with its reasons.
Shown under a failing case item, so the reader need not open the report."""

from __future__ import annotations

import textwrap

from deltajudge.judging.rubric import Rubric
from deltajudge.results import CaseResult

_WIDTH = 100


def _block(text: str, limit: int = 1200) -> str:
    if len(text) > limit:
        text = text[:limit] + " …"
    return textwrap.indent(text, "    ")


def describe_case(result: CaseResult, rubric: Rubric) -> str:
    lines = [f"case {result.case.id}", "prompt:", _block(result.case.prompt)]
    for alias in rubric.models:
        sample = result.samples.get(alias)
        lines.append(f"{alias}:")
        if sample is None or sample.error:
            lines.append(f"    (no answer: {sample.error if sample else 'not run'})")
            continue
        lines.append(_block(sample.output_text))
        for grader, grade in result.grades.get(alias, {}).items():
            if grade.error:
                lines.append(f"  {grader}: ERROR {grade.error}")
            else:
                reason = textwrap.shorten(grade.reasoning or "", _WIDTH)
                lines.append(f"  {grader}: {grade.score:g}  {reason}")
    return "\n".join(lines)
