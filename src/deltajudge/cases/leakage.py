"""Evaluation prompts that the model was trained on.

A test prompt that is also in the training file measures memory, not the fine-tune: the
delta looks better than it is. Prompts are compared three ways, from the surest: the
same text, the same text after normalisation (case, whitespace, punctuation), and near
duplicates (a similarity ratio from rapidfuzz when installed, else difflib's).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deltajudge.cases import Case, load_dataset
from deltajudge.cases.finetune_files import read_rows, text_of

Kind = Literal["exact", "normalised", "near"]
#: Similarity (0-1) at or above which two prompts are near duplicates.
NEAR_THRESHOLD = 0.9


@dataclass(frozen=True)
class Leak:
    case_id: str
    eval_line: int | None
    train_line: int
    kind: Kind
    similarity: float

    def render(self, eval_path: Path, train_path: Path) -> str:
        shown = f" ({self.similarity:.2f})" if self.kind == "near" else ""
        return (
            f"{eval_path}:{self.eval_line}: case {self.case_id}: {self.kind}{shown} match of "
            f"{train_path}:{self.train_line}"
        )


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def _ratio() -> Callable[[str, str], float]:
    try:
        from rapidfuzz import fuzz
    except ImportError:
        return lambda a, b: difflib.SequenceMatcher(None, a, b).ratio()
    return lambda a, b: float(fuzz.ratio(a, b)) / 100.0


def training_prompts(path: Path) -> list[tuple[int, str]]:
    """(line, last user message) of every row of a fine-tuning file."""
    _, rows, _ = read_rows(path)
    out = []
    for row in rows:
        users = [m for m in row.prompt if m.get("role") == "user"]
        if users:
            out.append((row.line, text_of(users[-1].get("content"))))
    return out


def find_leaks(
    cases: Sequence[Case], train: Sequence[tuple[int, str]], threshold: float = NEAR_THRESHOLD
) -> list[Leak]:
    """The best match in ``train`` for every case that has one."""
    exact = {text: line for line, text in reversed(train)}
    normal = {normalise(text): line for line, text in reversed(train)}
    normalised_train = [(line, normalise(text)) for line, text in train]
    ratio = _ratio()
    leaks = []
    for case in cases:
        prompt = case.prompt
        if prompt in exact:
            leaks.append(Leak(case.id, case.line, exact[prompt], "exact", 1.0))
            continue
        key = normalise(prompt)
        if key in normal:
            leaks.append(Leak(case.id, case.line, normal[key], "normalised", 1.0))
            continue
        best = max(((ratio(key, text), line) for line, text in normalised_train), default=None)
        if best is not None and best[0] >= threshold:
            leaks.append(Leak(case.id, case.line, best[1], "near", best[0]))
    return leaks


def leaks_between(eval_path: Path, train_path: Path, threshold: float) -> list[Leak]:
    return find_leaks(load_dataset(eval_path), training_prompts(train_path), threshold)
