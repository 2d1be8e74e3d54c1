"""The gates a rubric gets when it has no ``gates:`` key, so that it can fail at all.

Without gates every case item passes on "answered and graded", and a regressed fine-tune
gives a green build. The defaults are a non-inferiority test per grader (the 95% CI of the
mean delta must stay above ``-margin``, a small fraction of the score range) and no errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deltajudge.constants import DEFAULT_NOT_WORSE_MARGIN

if TYPE_CHECKING:
    from deltajudge.judging.rubric import GateSpec, GraderSpec


def score_width(grader: GraderSpec) -> float | None:
    """How far a grader's scores can spread; None when the rubric cannot say (python, multi)."""
    if grader.type == "score_model":
        low, high = grader.range
        return high - low
    if grader.type == "pairwise":
        return 2.0  # -1 (baseline preferred) to +1
    if grader.type in ("label_model", "string_check", "text_similarity"):
        return 1.0
    return None


def default_gates(graders: list[GraderSpec], compared: bool) -> list[GateSpec]:
    """``compared``: the rubric has a candidate, so there is a delta to gate."""
    from deltajudge.judging.rubric import GateSpec

    gates = []
    for grader in graders:
        width = score_width(grader)
        if width is not None and compared:
            margin = round(DEFAULT_NOT_WORSE_MARGIN * width, 4)
            gates.append(GateSpec(metric="delta_ci_low", grader=grader.name, min=-margin))
        if grader.type != "pairwise":  # a pairwise grade belongs to the pair, not a model
            gates.append(GateSpec(metric="errors", grader=grader.name, max=0))
    return gates
