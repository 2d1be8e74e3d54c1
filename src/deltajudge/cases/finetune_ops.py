"""Split, convert and describe fine-tuning files (see `finetune_files` for the formats).

* split: deterministic for a seed, and by prompt: two pairs that share a prompt go to the
  same split, or the test set would hold prompts the model was trained on;
* convert: OpenAI preference <-> OpenAI SFT (the preferred answer) <-> TRL, with what a
  target cannot hold (SFT has no non-preferred answer) counted and reported;
* stats: sizes, and the preferred/non-preferred length ratio, the first thing to know
  before trusting a judge on the pairs (a judge that likes long answers agrees by luck).
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any, Literal

from deltajudge.cases.finetune_files import Format, Messages, Row, text_of

SPLITS = ("train", "valid", "test")
Style = Literal["standard", "conversational"]
#: Keys OpenAI puts beside the messages: top level in SFT rows, inside ``input`` in pairs.
TOOL_KEYS = ("tools", "parallel_tool_calls", "functions")


class ConversionError(ValueError):
    """A row the target format cannot hold at all (a line number says which)."""


def split_rows(
    rows: list[Row], fractions: tuple[float, float, float], seed: int
) -> dict[str, list[Row]]:
    """Rows per split, whole prompts at a time, in file order within each split."""
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be >= 0 and sum to 1 (got {fractions})")
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.prompt_key, []).append(row)
    order = list(groups)
    random.Random(seed).shuffle(order)
    first, second = (round(len(rows) * f) for f in fractions[:2])
    targets = dict(zip(SPLITS, (first, second, len(rows) - first - second), strict=True))
    out: dict[str, list[Row]] = {name: [] for name in SPLITS}
    for key in order:
        size = len(groups[key])
        room = {name: targets[name] - len(out[name]) for name in SPLITS}
        # the first split the whole group fits in, else the one furthest from its target
        name = next((n for n in SPLITS if room[n] >= size), max(SPLITS, key=room.__getitem__))
        out[name] += groups[key]
    return {name: sorted(chosen, key=lambda r: r.line) for name, chosen in out.items()}


def convert_row(row: Row, target: Format, style: Style) -> tuple[dict[str, Any], list[str]]:
    """The row in ``target`` form, and what it lost on the way."""
    lost: list[str] = []
    extra = dict(row.extra)
    tools = {k: extra.pop(k) for k in TOOL_KEYS if k in extra}
    tools |= extra.pop("input", {})
    if target == "openai-sft":
        if row.rejected is not None:
            lost.append("non-preferred answer")
        return {**extra, "messages": row.prompt + row.chosen, **tools}, lost
    if row.rejected is None:
        raise ConversionError(f"line {row.line}: an SFT row has no non-preferred answer")
    if target == "openai-preference":
        body = {"input": {"messages": row.prompt, **tools}, "preferred_output": row.chosen}
        return {**extra, **body, "non_preferred_output": row.rejected}, lost
    if tools:
        lost.append("tools")
    if style == "conversational":
        return {**extra, "prompt": row.prompt, "chosen": row.chosen, "rejected": row.rejected}, lost
    return {**extra, **_standard(row)}, lost


def _standard(row: Row) -> dict[str, str]:
    """TRL's plain-string form holds one user turn and one answer: nothing else fits."""
    if len(row.prompt) != 1 or row.prompt[0]["role"] != "user":
        raise ConversionError(
            f"line {row.line}: the prompt has {len(row.prompt)} messages "
            f"({', '.join(m['role'] for m in row.prompt)}); a standard TRL row holds one "
            "user message: use --style conversational"
        )
    answers = (row.chosen, row.rejected or [])
    if any(len(a) != 1 for a in answers):
        raise ConversionError(f"line {row.line}: a standard TRL answer is one message")
    return {
        "prompt": text_of(row.prompt[0].get("content")),
        "chosen": text_of(row.chosen[0].get("content")),
        "rejected": text_of(answers[1][0].get("content")),
    }


def default_style(fmt: Format, rows: list[Row]) -> Style:
    """Standard only when the source was plain-string TRL: everything else keeps turns."""
    return "standard" if fmt == "trl-preference" and rows and rows[0].standard else "conversational"


@dataclass(frozen=True)
class Lengths:
    mean: float
    median: float
    max: int

    @classmethod
    def of(cls, values: list[int]) -> Lengths:
        return cls(statistics.fmean(values), statistics.median(values), max(values))


@dataclass(frozen=True)
class FileStats:
    """Characters (no tokenizer is downloaded); ``None`` where the file has no pairs."""

    format: Format
    rows: int
    prompts: int
    prompt_turns: Lengths
    prompt_chars: Lengths
    chosen_chars: Lengths
    rejected_chars: Lengths | None
    #: mean preferred length / mean non-preferred length.
    length_ratio: float | None
    #: share of pairs whose preferred answer is the longer one.
    chosen_longer: float | None


def file_stats(fmt: Format, rows: list[Row]) -> FileStats:
    if not rows:
        raise ValueError("no rows to describe")
    chosen = [_chars(r.chosen) for r in rows]
    rejected = [_chars(r.rejected) for r in rows if r.rejected is not None]
    pairs = list(zip(chosen, rejected, strict=False)) if len(rejected) == len(rows) else []
    return FileStats(
        format=fmt,
        rows=len(rows),
        prompts=len({r.prompt_key for r in rows}),
        prompt_turns=Lengths.of([len(r.prompt) for r in rows]),
        prompt_chars=Lengths.of([_chars(r.prompt) for r in rows]),
        chosen_chars=Lengths.of(chosen),
        rejected_chars=Lengths.of(rejected) if rejected else None,
        length_ratio=statistics.fmean(chosen) / statistics.fmean(rejected)
        if pairs and statistics.fmean(rejected) > 0
        else None,
        chosen_longer=sum(c > r for c, r in pairs) / len(pairs) if pairs else None,
    )


def _chars(messages: Messages) -> int:
    return sum(len(text_of(m.get("content"))) for m in messages)
