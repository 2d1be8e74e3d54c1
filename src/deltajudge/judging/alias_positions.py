"""Where a rubric file names a model alias, so "alias 'judg' is not configured" points at
the line to fix (``rubrics/tone.yaml:9:12``) rather than at no file at all."""

from __future__ import annotations

from pathlib import Path

from deltajudge.judging.yaml_positions import load_with_positions


def alias_position(path: Path, alias: str) -> tuple[int | None, int | None]:
    """The first ``models: [...]`` entry or grader ``model:`` that is ``alias``."""
    try:
        data, positions = load_with_positions(path.read_text(encoding="utf-8"))
    except Exception:  # the rubric loaded a moment ago; a race is not worth a traceback
        return None, None
    if not isinstance(data, dict):
        return None, None
    candidates: list[tuple[int | str, ...]] = []
    for index, name in enumerate(data.get("models") or []):
        if name == alias:
            candidates.append(("models", index))
    for index, grader in enumerate(data.get("graders") or []):
        if isinstance(grader, dict):
            subs = [((), grader)] + [
                (("graders", key), sub)
                for key, sub in (grader.get("graders") or {}).items()
                if isinstance(sub, dict)
            ]
            for prefix, sub in subs:
                if sub.get("model") == alias:
                    candidates.append(("graders", index, *prefix, "model"))
    found = [positions[c] for c in candidates if c in positions]
    if not found:
        return None, None
    line, column = min(found)
    return line, column
