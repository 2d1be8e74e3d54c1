"""The gates a rubric gets when it has no ``gates:`` key, so that it can fail at all.

Without gates every case item passes on "answered and graded", and a regressed fine-tune
gives a green build. The defaults are the ``not_worse`` test per grader (the candidate is
not significantly worse than the baseline) and no errors per grader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deltajudge.judging.gate_specs import GateSpec
    from deltajudge.judging.grader_specs import GraderSpec


def default_gates(graders: list[GraderSpec], compared: bool) -> list[GateSpec]:
    """``compared``: the rubric has a candidate, so there is a delta to gate."""
    from deltajudge.judging.gate_specs import GateSpec

    gates = []
    for grader in graders:
        if compared:
            gates.append(GateSpec(test="not_worse", grader=grader.name))
        if grader.type != "pairwise":  # a pairwise grade belongs to the pair, not a model
            gates.append(GateSpec(metric="errors", grader=grader.name, max=0))
    return gates
