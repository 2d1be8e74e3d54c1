"""Rubric files as pytest collectors: one item per (rubric, case), one per gate.

Items only read results; the engine has already run every selected case at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from deltajudge.errors import UserInputError
from deltajudge.pytest_plugin import xdist
from deltajudge.pytest_plugin.session import evaluation_for
from deltajudge.redaction import scrub

if TYPE_CHECKING:
    from deltajudge.cases import Case
    from deltajudge.judging.loading import LoadedRubric
    from deltajudge.pipeline import Evaluation


class CaseFailed(Exception):
    """A case item's failure, rendered by `CaseItem.repr_failure` without a traceback."""


def is_rubric_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and (
        path.parent.name == "rubrics" or path.name.endswith((".rubric.yaml", ".rubric.yml"))
    )


class RubricFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from deltajudge.gating.names import BASELINE_GATE, gate_names
        from deltajudge.judging.loading import load_rubric

        try:
            evaluation = evaluation_for(self.config)
            loaded = load_rubric(self.path)
            evaluation.models_for(loaded)
            leaked = evaluation.check_files(loaded)
        except UserInputError as exc:
            raise self.CollectError(exc.render()) from None
        if leaked is not None:
            self.warn(pytest.PytestWarning(leaked))
        evaluation.add(loaded)
        self.add_marker(pytest.mark.deltajudge)
        for case in loaded.cases:
            yield CaseItem.from_parent(self, name=case.id, loaded=loaded, case=case)
        for name in gate_names(loaded.rubric):
            yield GateItem.from_parent(self, name=name, loaded=loaded)
        if evaluation.settings.baseline is not None:
            yield GateItem.from_parent(self, name=BASELINE_GATE, loaded=loaded)


def ready(config: pytest.Config) -> Evaluation:
    """The evaluation an item reads; on an xdist worker, once every worker's shard is in
    (its items may be of cases another worker evaluated)."""
    evaluation = evaluation_for(config)
    if evaluation.failure is None and xdist.is_worker(config):
        problem = xdist.complete(config, evaluation)
        if problem is not None:
            raise CaseFailed(problem)
    return evaluation


class CaseItem(pytest.Item):
    def __init__(self, *, loaded: LoadedRubric, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.case = case

    def runtest(self) -> None:
        """Reads the case's verdict (decided in `deltajudge.gating`, stored in the report)."""
        evaluation = ready(self.config)
        if evaluation.failure is not None:
            raise CaseFailed(evaluation.failure.__str__())
        result = evaluation.case_result(self.loaded.path, self.case.id)
        if result is None and evaluation.stopped:
            pytest.skip("not evaluated: -x/--maxfail stopped the run once enough cases failed")
        verdict = evaluation.case_verdict(self.loaded.path, self.case.id)
        if result is None or verdict is None:
            stopped = evaluation.results.interrupted if evaluation.results else None
            if stopped:
                raise CaseFailed(f"not run: the run was interrupted by {stopped}")
            raise CaseFailed("the engine produced no result for this case")
        for alias, grades in result.grades.items():
            for grader, grade in grades.items():
                self.user_properties.append((f"{alias}.{grader}", grade.score))
        if not verdict.passed:
            from deltajudge.reporting.case_text import describe_case

            described = describe_case(result, self.loaded.rubric)
            raise CaseFailed("\n".join([*verdict.problems, "", described]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # scrubbed: the text quotes answers, judge replies and endpoint errors (JUnit too)
        if isinstance(excinfo.value, CaseFailed):
            return scrub(str(excinfo.value))
        return scrub(str(super().repr_failure(excinfo)))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = (self.case.line - 1) if self.case.line else None
        return self.case.source or self.path, line, f"{self.loaded.name}::{self.case.id}"


class GateItem(pytest.Item):
    def __init__(self, *, loaded: LoadedRubric, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded

    def runtest(self) -> None:
        evaluation = ready(self.config)
        if evaluation.failure is not None:
            raise CaseFailed(str(evaluation.failure))
        if evaluation.shard is not None:
            pytest.skip(
                f"decided by `deltajudge merge`: this run is shard {evaluation.shard}, and a "
                "gate needs every shard's cases"
            )
        gate = evaluation.gate(self.loaded.path, self.name)
        if gate is None:
            raise CaseFailed("the gate was not evaluated (were its cases deselected?)")
        self.user_properties.append(("value", gate.value))
        if not gate.passed:
            worst = evaluation.worst_cases(self.loaded.path, gate)
            raise CaseFailed("\n".join([f"gate failed: {gate.name}", gate.reason, *worst]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # scrubbed: the text quotes answers, judge replies and endpoint errors (JUnit too)
        if isinstance(excinfo.value, CaseFailed):
            return scrub(str(excinfo.value))
        return scrub(str(super().repr_failure(excinfo)))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.loaded.name}::gate {self.name}"
