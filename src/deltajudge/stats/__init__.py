"""Statistics over judged results: pure functions from scores to report figures.

Per model (`summarize`, `pass_rate`), per candidate-vs-baseline pair (`compare_paired`,
`mcnemar`, `regressions`, `length_effect`) and for the judge itself (`judge_noise`).
Every result is a frozen dataclass of plain floats and ints, None where a figure
cannot be computed, so `dataclasses.asdict` drops straight into report.json.
Intervals are seeded bootstraps: the same results always give the same report.
"""

from __future__ import annotations

from deltajudge.stats._arrays import TIE_TOLERANCE
from deltajudge.stats.aggregates import PassRate, Summary, pass_rate, summarize
from deltajudge.stats.length import LengthEffect, length_effect
from deltajudge.stats.noise import JudgeNoise, judge_noise
from deltajudge.stats.paired import (
    McNemar,
    PairedComparison,
    compare_paired,
    mcnemar,
    regressions,
)

__all__ = [
    "TIE_TOLERANCE",
    "JudgeNoise",
    "LengthEffect",
    "McNemar",
    "PairedComparison",
    "PassRate",
    "Summary",
    "compare_paired",
    "judge_noise",
    "length_effect",
    "mcnemar",
    "pass_rate",
    "regressions",
    "summarize",
]
