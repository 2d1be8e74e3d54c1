"""What the verdicts are, as plain values: the report holds these directly.

Kept free of the statistics (no scipy, no numpy) so that reading or re-rendering a
report.json never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["better", "worse", "insufficient evidence"]


@dataclass(frozen=True)
class Verdict:
    """A comparison's outcome, the p-value it was decided on, and why, in words.

    ``p_value`` is the two-sided Wilcoxon p the decision used: Holm-adjusted when
    ``correction`` is ``holm``, else the raw one.
    """

    outcome: Outcome
    reason: str
    p_value: float | None = None
    correction: str | None = None


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: pass/fail, the figure, and the reason in words.

    ``metric`` is the figure a bound gate checks, or the name of a named test
    (``better``, ``not_worse``, ``noninferior``, ``equivalent``) with its ``margin``;
    ``min``/``max`` are inclusive bounds, ``above``/``below`` strict ones.
    """

    name: str
    metric: str
    grader: str
    model: str
    passed: bool
    value: float | None = None
    min: float | None = None
    max: float | None = None
    reason: str = ""
    above: float | None = None
    below: float | None = None
    margin: float | None = None


@dataclass(frozen=True)
class CaseVerdict:
    """What one case item asserts, decided once: it fails when there are ``problems``
    (errors, and the rubric's ``case_check`` when it has one)."""

    passed: bool
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint of a ``compare: checkpoints`` sweep, in training order."""

    alias: str
    #: mean score on the sweep's grader (None: no scored case)
    mean: float | None
    n: int
    #: against the base model, as the comparison's verdict says
    vs_base: Verdict | None
    #: this checkpoint minus the final one, Holm-corrected across the earlier checkpoints
    #: (None for the final itself)
    vs_final: Verdict | None
    #: not significantly worse than the final: it may be chosen as the best
    eligible: bool


@dataclass(frozen=True)
class CheckpointSweep:
    """``compare: checkpoints``: "did I over-train?", decided once.

    ``best`` is the checkpoint with the highest mean on ``grader`` among those not
    significantly worse than the final one (paired test against the final on the same
    cases, Holm-corrected across the checkpoints); a tie goes to the earlier checkpoint.
    ``overtrained`` is true when some earlier checkpoint is significantly *better* than
    the final one.
    """

    grader: str
    base: str
    final: str
    best: str | None
    overtrained: bool
    reason: str
    checkpoints: list[CheckpointRow] = field(default_factory=list)
