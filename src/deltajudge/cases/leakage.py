"""Evaluation prompts that the model was trained on.

A test prompt that is also in the training file measures memory, not the fine-tune: the
delta looks better than it is. Prompts are compared three ways, from the surest: the
same text, the same text after normalisation (case, whitespace, punctuation), and near
duplicates (a similarity ratio from rapidfuzz when installed, else difflib's).

At collection (`check_training_files`), a rubric's ``training_file:`` and the run's
``--dj-training-file`` are checked against its data set: a leak is a warning, or with
``leakage: fail`` an error naming every leaked case and the training line it matches.
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
from deltajudge.errors import DatasetError

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
    nearest = _nearest([text for _, text in normalised_train], threshold)
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
        found = nearest(key)
        if found is not None:
            score, index = found
            leaks.append(Leak(case.id, case.line, normalised_train[index][0], "near", score))
    return leaks


def _nearest(choices: list[str], threshold: float) -> Callable[[str], tuple[float, int] | None]:
    """The most similar training prompt at or above ``threshold``: (similarity, index).

    rapidfuzz scans the training prompts in C (a thousand cases against ten thousand
    rows in about a second); the difflib fallback is the same ratio, in Python."""
    try:
        from rapidfuzz import fuzz, process
    except ImportError:
        ratio = _ratio()

        def slow(key: str) -> tuple[float, int] | None:
            scored = ((ratio(key, text), i) for i, text in enumerate(choices))
            best = max(scored, default=None, key=lambda pair: pair[0])
            return best if best is not None and best[0] >= threshold else None

        return slow

    def fast(key: str) -> tuple[float, int] | None:
        found = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=threshold * 100)
        return None if found is None else (float(found[1]) / 100.0, int(found[2]))

    return fast


def leaks_between(eval_path: Path, train_path: Path, threshold: float) -> list[Leak]:
    return find_leaks(load_dataset(eval_path), training_prompts(train_path), threshold)


@dataclass(frozen=True)
class LeakageCheck:
    """The leaks of one data set against every training file a run names."""

    #: (training file, the leaks into it)
    found: list[tuple[Path, list[Leak]]]
    eval_path: Path

    @property
    def count(self) -> int:
        return len({leak.case_id for _, leaks in self.found for leak in leaks})

    def lines(self) -> list[str]:
        return [leak.render(self.eval_path, train) for train, leaks in self.found for leak in leaks]

    def message(self, name: str, limit: int = 20) -> str:
        lines = self.lines()
        shown = lines[:limit] + (
            [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
        )
        files = ", ".join(str(train) for train, leaks in self.found if leaks)
        return (
            f"{name}: {self.count} evaluation prompt(s) also appear in the training data "
            f"({files}): their scores measure memory, not the fine-tune\n  " + "\n  ".join(shown)
        )


def check_training_files(
    cases: Sequence[Case],
    eval_path: Path,
    files: Sequence[tuple[Path, str]],
    threshold: float = NEAR_THRESHOLD,
) -> LeakageCheck:
    """``files``: (path, where it was named, for the error when it is missing)."""
    found = []
    for path, named in files:
        if not path.is_file():
            raise DatasetError(
                f"{named}: training file not found (resolved to {path})",
                hint="training_file: is relative to the rubric file, --dj-training-file "
                "to the project root",
            )
        found.append((path, find_leaks(cases, training_prompts(path), threshold)))
    return LeakageCheck(found, eval_path)
