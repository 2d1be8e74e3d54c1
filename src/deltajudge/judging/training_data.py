"""A rubric's training files, checked for evaluation prompts at collection.

``training_file:`` in the rubric (relative to it) and ``--dj-training-file`` (relative to
the project root) name the fine-tuning data the candidates saw. A prompt found in them
makes the delta look better than the fine-tune is, so collection says so: a warning by
default (a data set often shares a few generic prompts with training, and the run is
still worth reading), a collection error with ``leakage: fail`` in the rubric or the run's
config (for CI, where a leaked eval set must stop the build).
"""

from __future__ import annotations

from pathlib import Path

from deltajudge.cases.leakage import check_training_files
from deltajudge.errors import RubricError
from deltajudge.judging.loading import LoadedRubric
from deltajudge.settings import Settings


def training_files(
    loaded: LoadedRubric, settings: Settings, rootdir: Path
) -> list[tuple[Path, str]]:
    """(path, where it was named) for every training file this rubric is checked against."""
    named = [
        (loaded.path.parent / f, f"{loaded.path}: training_file {f}")
        for f in loaded.rubric.training_files
    ]
    named += [(rootdir / f, f"--dj-training-file {f}") for f in settings.training_files]
    seen: set[Path] = set()
    out = []
    for path, where in named:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            out.append((resolved, where))
    return out


def check_leakage(loaded: LoadedRubric, settings: Settings, rootdir: Path) -> str | None:
    """The warning to show (None: no training file, or no leak); a `RubricError` listing
    every leaked case when the rubric or the run says ``leakage: fail``."""
    files = training_files(loaded, settings, rootdir)
    if not files:
        return None
    found = check_training_files(loaded.cases, loaded.dataset_path, files)
    if not found.count:
        return None
    message = found.message(loaded.name)
    if "fail" in (settings.leakage, loaded.rubric.leakage):
        raise RubricError(
            message,
            path=loaded.path,
            hint="take these prompts out of the evaluation set (or out of the training "
            "data), or set leakage: warn to only list them",
        )
    return message
