"""``compare: checkpoints``: which checkpoint of a fine-tuning job to ship.

A job's last checkpoint is not always its best: training past the point where the
eval score peaks ("over-training") makes later checkpoints worse on what you care
about. Every checkpoint is compared with the base (the usual verdicts), and every
earlier checkpoint with the final one on the same cases. Those checkpoint-vs-final
verdicts form one family per grader and are always Holm-corrected (k - 1 tests for k
checkpoints), so sweeping twenty checkpoints does not find one "better" by chance.

The best checkpoint is the one with the highest mean score on the rubric's primary
grader (its first non-pairwise grader) among the checkpoints that are not
significantly worse than the final one; the final is always eligible, and a tie goes
to the earlier checkpoint (less training for the same score).
"""

from __future__ import annotations

from collections.abc import Sequence

from deltajudge.gating.outcome import CheckpointRow, CheckpointSweep, Verdict
from deltajudge.gating.verdict import verdicts
from deltajudge.judging.rubric import Rubric
from deltajudge.stats.rubric import Comparison, RubricStats


def family_verdicts(rubric: Rubric, comparisons: Sequence[Comparison]) -> list[Verdict]:
    """Every comparison's verdict: the ones against the base as ``correction`` says (Holm
    by default in a sweep), the checkpoint-vs-final ones Holm-corrected per grader."""
    correction = None if rubric.effective_correction == "none" else rubric.effective_correction
    final = rubric.final_checkpoint
    if final is None:
        return verdicts([c.paired for c in comparisons], correction)
    out: list[Verdict | None] = [None] * len(comparisons)
    families: dict[tuple[str, str], list[int]] = {}
    for index, c in enumerate(comparisons):
        key = ("final", c.grader) if c.baseline == final else ("base", "")
        families.setdefault(key, []).append(index)
    for (kind, _), indexes in families.items():
        wanted = "holm" if kind == "final" else correction
        found = verdicts([comparisons[i].paired for i in indexes], wanted)
        for index, verdict in zip(indexes, found, strict=True):
            out[index] = verdict
    return [v for v in out if v is not None]


def checkpoint_sweep(
    rubric: Rubric, stats: RubricStats, found: Sequence[Verdict]
) -> CheckpointSweep | None:
    """The sweep's rows and its best checkpoint (None unless ``compare: checkpoints``)."""
    final, grader = rubric.final_checkpoint, rubric.primary_grader
    if final is None or grader is None:
        return None
    by_pair = {
        (c.baseline, c.candidate): v
        for c, v in zip(stats.comparisons, found, strict=True)
        if c.grader == grader
    }
    rows = []
    for alias in rubric.candidates:
        summary = stats.models[alias][grader].summary
        vs_final = by_pair.get((final, alias))
        rows.append(
            CheckpointRow(
                alias=alias,
                mean=summary.mean if summary.n else None,
                n=summary.n,
                vs_base=by_pair.get((rubric.baseline, alias)),
                vs_final=vs_final,
                eligible=vs_final is None or vs_final.outcome != "worse",
            )
        )
    return _pick(rubric, grader, final, rows)


def _pick(rubric: Rubric, grader: str, final: str, rows: list[CheckpointRow]) -> CheckpointSweep:
    ranked = [r for r in rows if r.eligible and r.mean is not None]
    overtrained = [
        r.alias for r in rows if r.vs_final is not None and r.vs_final.outcome == "better"
    ]

    def sweep(best: str | None, reason: str) -> CheckpointSweep:
        return CheckpointSweep(
            grader, rubric.baseline, final, best, bool(overtrained), reason, rows
        )

    if not ranked:
        return sweep(None, f"no checkpoint has a scored case on {grader}")
    best = max(ranked, key=lambda r: r.mean or 0.0)  # max keeps the first of equals
    assert best.mean is not None
    excluded = [r.alias for r in rows if not r.eligible]
    reason = (
        f"{best.alias} has the highest mean {grader} ({best.mean:.3g}) among the "
        f"{len(ranked)} checkpoint(s) not significantly worse than the final {final} "
        "(paired tests against the final, Holm-corrected)"
    )
    if excluded:
        reason += f"; significantly worse than the final: {', '.join(excluded)}"
    if overtrained:
        reason += f"; over-trained: {', '.join(overtrained)} significantly better than the final"
    return sweep(best.alias, reason)
