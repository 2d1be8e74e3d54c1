"""pytest-xdist: refused for rubric files, with the reason, instead of doubling the cost.

Each xdist worker is a separate pytest session; without merging their results every worker
would evaluate every case and write the same report folder. The engine already runs all
cases concurrently in one process (``--dj-concurrency``), so workers add no speed here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

REFUSAL = (
    "deltajudge does not run rubric files under pytest-xdist (-n): every worker would "
    "evaluate every case, paying for each call once per worker, and overwrite one report"
    "\nHint: drop -n for rubric files; the engine already sends requests concurrently "
    "(raise --dj-concurrency for more), or run `pytest -n auto tests/` and "
    "`deltajudge run rubrics/` as two commands"
)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class RefusedRubricFile(pytest.File):
    """Stands in for a rubric file on an xdist worker: collecting it fails with `REFUSAL`."""

    def collect(self) -> Iterator[pytest.Item]:
        raise self.CollectError(REFUSAL)
