"""What a report says once about the run as a whole, before its figures: a shard's
partial view, an interrupted run's missing cases, what collection found, endpoints that
went down, and that the embedded judge is a stand-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deltajudge.results import RunResults

if TYPE_CHECKING:
    from deltajudge.shards import Shard

EMBEDDED_JUDGE_NOTE = (
    "The judge is the embedded Gemma 3 270M (pretrained, not instruction-tuned): a "
    "smoke-level stand-in that exercises the whole pipeline offline. Its scores say "
    "nothing about quality. Point the judge alias at a real model (OpenAI, Azure OpenAI, "
    "or any OpenAI-compatible server such as vLLM or Ollama) for figures you can trust."
)


def run_notes(results: RunResults, shard: Shard | None, collection_notes: list[str]) -> list[str]:
    judges = set().union(*(r.loaded.rubric.judge_aliases() for r in results.rubrics))
    notes = list(results.notes)  # endpoints that went down or throttled, said once
    if shard is not None:
        notes.insert(0, _shard_note(shard))
    notes += collection_notes
    if results.interrupted is not None:
        notes.insert(0, _incomplete_note(results))
    if any(results.models[j].provider == "local" for j in judges):
        notes.append(EMBEDDED_JUDGE_NOTE)
    return notes


def _incomplete_note(results: RunResults) -> str:
    missing = [
        f"{run.name}::{case.id}"
        for run in results.rubrics
        for case in run.selected
        if case.id not in run.cases
    ]
    listed = ", ".join(missing[:20]) + (
        f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    )
    return (
        f"INCOMPLETE: interrupted by {results.interrupted}; {len(missing)} selected "
        f"cases were not run{': ' + listed if missing else ''}. Rerun to finish: answers "
        "already received are cached."
    )


def _shard_note(shard: Shard) -> str:
    return (
        f"SHARD {shard}: these figures cover this shard's cases only; the gates are decided "
        "by `deltajudge merge` over every shard's results.jsonl"
    )
