"""Custom graders for the bundled suite: plain functions, called with ``(sample, item)``.

A rubric names one with ``type: python`` and ``function: evals.checks:<name>``.
"""

from __future__ import annotations

from typing import Any

#: Longer than this and a support reply stops being read: a DPO run for a friendlier
#: tone often makes answers longer, so the suite watches length next to tone.
MAX_REPLY_CHARS = 600


def concise(sample: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """1.0 when the reply fits in MAX_REPLY_CHARS, falling linearly to 0 at twice that."""
    length = len(sample["output_text"])
    score = max(0.0, min(1.0, 2.0 - length / MAX_REPLY_CHARS))
    return {"score": score, "reasoning": f"{length} characters"}
