"""Rubric files as pytest collectors: one item per (rubric, case), one per gate.

Items only read results; the engine has already run every selected case at once. A rubric
with more cases than ``case_items`` gets one item per run of that many consecutive cases
instead (`ChunkItem`): pytest keeps every item, its keywords and three reports each for the
whole session, which at 100,000 cases costs more memory than the evaluation itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    from deltajudge.results import CaseResult


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
        size = evaluation.settings.case_items
        if len(loaded.cases) <= size:
            for case in loaded.cases:
                yield CaseItem.from_parent(self, name=case.id, loaded=loaded, case=case)
        else:
            for start in range(0, len(loaded.cases), size):
                chunk = loaded.cases[start : start + size]
                name = f"cases[{start + 1}-{start + len(chunk)}]"
                yield ChunkItem.from_parent(self, name=name, loaded=loaded, cases=chunk)
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


#: A failing chunk shows this many of its failed cases in full, then counts the rest.
SHOWN_FAILURES = 20


class ChunkItem(pytest.Item):
    """Consecutive cases of a big rubric as one item: it passes when every one of its cases
    passed, and its failure lists the failed cases like `CaseItem` shows one. Selection
    (``--dj-limit``, ``--dj-shard``) narrows ``cases``; the name keeps the data-set positions
    it was collected with. It records no per-case ``user_properties`` (report.json has the
    scores)."""

    def __init__(self, *, loaded: LoadedRubric, cases: Sequence[Case], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.cases = tuple(cases)

    def runtest(self) -> None:
        evaluation = ready(self.config)
        if evaluation.failure is not None:
            raise CaseFailed(str(evaluation.failure))
        failed: list[tuple[Case, list[str], CaseResult]] = []
        not_run: list[Case] = []
        unevaluated = 0
        for case in self.cases:
            result = evaluation.case_result(self.loaded.path, case.id)
            if result is None and evaluation.stopped:
                unevaluated += 1
                continue
            verdict = evaluation.case_verdict(self.loaded.path, case.id)
            if result is None or verdict is None:
                not_run.append(case)
            elif not verdict.passed:
                failed.append((case, verdict.problems, result))
        if failed or not_run:
            stopped = evaluation.results.interrupted if evaluation.results else None
            raise CaseFailed(self._failure_text(failed, not_run, stopped, unevaluated))
        if unevaluated:
            pytest.skip(
                f"{unevaluated} of {len(self.cases)} cases not evaluated: -x/--maxfail stopped "
                "the run once enough cases failed (the others passed)"
            )

    def _where(self, case: Case) -> str:
        return f"{case.id} ({case.source or self.path}:{case.line})"

    def _failure_text(
        self,
        failed: list[tuple[Case, list[str], CaseResult]],
        not_run: list[Case],
        stopped: str | None,
        unevaluated: int,
    ) -> str:
        """The first `SHOWN_FAILURES` failed cases as `CaseItem` shows one, then counts."""
        from deltajudge.reporting.case_text import describe_case

        lines = [f"{len(failed) + len(not_run)} of {len(self.cases)} cases failed", ""]
        for case, problems, result in failed[:SHOWN_FAILURES]:
            described = describe_case(result, self.loaded.rubric)
            lines += [f"FAILED {self._where(case)}", *problems, "", described, ""]
        if len(failed) > SHOWN_FAILURES:
            more = len(failed) - SHOWN_FAILURES
            lines.append(f"... and {more} more failed cases (each is in report.json)")
        if not_run:
            why = f"interrupted by {stopped}" if stopped else "the engine produced no result"
            named = ", ".join(self._where(c) for c in not_run[:SHOWN_FAILURES])
            if len(not_run) > SHOWN_FAILURES:
                named += f" and {len(not_run) - SHOWN_FAILURES} more"
            lines.append(f"{len(not_run)} cases not run ({why}): {named}")
        if unevaluated:
            lines.append(f"{unevaluated} cases not evaluated: -x/--maxfail stopped the run")
        return "\n".join(lines).rstrip()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # scrubbed: the text quotes answers, judge replies and endpoint errors (JUnit too)
        if isinstance(excinfo.value, CaseFailed):
            return scrub(str(excinfo.value))
        return scrub(str(super().repr_failure(excinfo)))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        first = self.cases[0] if self.cases else None
        line = (first.line - 1) if first is not None and first.line else None
        source = first.source if first is not None and first.source else self.path
        return source, line, f"{self.loaded.name}::{self.name}"


def cases_of(item: pytest.Item) -> tuple[LoadedRubric, tuple[Case, ...]] | None:
    """The rubric and cases a case or chunk item asserts; None for any other item (a gate)."""
    if isinstance(item, CaseItem):
        return item.loaded, (item.case,)
    if isinstance(item, ChunkItem):
        return item.loaded, item.cases
    return None


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
