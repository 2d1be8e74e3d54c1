"""What the summary must say about how this run differs from a plain full run: defaults the
user did not choose and selections that make it partial, each with what to do about it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deltajudge.pipeline import Evaluation


def notices(evaluation: Evaluation) -> list[str]:
    lines = []
    for path in evaluation.selected:
        rubric = evaluation.rubrics[path].rubric
        if rubric.has_default_gates:
            from deltajudge.gating.names import gate_names

            lines.append(
                f"{rubric.name}: no `gates:` in {path.name}, so the default gates apply: "
                + "; ".join(gate_names(rubric))
                + " (write `gates:` to choose your own, `gates: []` for none)"
            )
    if evaluation.partial:
        total = sum(len(r.cases) for r in evaluation.rubrics.values())
        ran = sum(len(ids) for ids in evaluation.selected.values())
        why = (
            f"shard {evaluation.shard}; `deltajudge merge` concludes the run"
            if evaluation.shard is not None
            else "-k, deselection or --dj-limit"
        )
        lines.append(
            f"partial run: {ran} of {total} cases ({why}); "
            "its reports are kept apart from a full run's"
        )
    return lines
