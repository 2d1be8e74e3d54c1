"""What one case item asserts. By default only "every answer was generated and graded":
a single judge score is noisy, so it never fails the build unless the rubric's
``case_check`` asks for it; the aggregate gates decide."""

from __future__ import annotations

from deltajudge.gating.outcome import CaseVerdict
from deltajudge.judging.rubric import Rubric
from deltajudge.results import CaseResult


def case_verdict(result: CaseResult, rubric: Rubric) -> CaseVerdict:
    """The case item's verdict, stored per case in report.json and read by the item."""
    problems = case_problems(result, rubric)
    return CaseVerdict(passed=not problems, problems=problems)


def case_problems(result: CaseResult, rubric: Rubric) -> list[str]:
    problems = [f"error: {e}" for e in result.errors()]
    check = rubric.case_check
    if check is None or problems:
        return problems
    graders = [check.grader] if check.grader else [g.name for g in rubric.graders]
    for candidate in rubric.candidates:
        for grader in graders:
            base = result.grade(rubric.baseline, grader)
            cand = result.grade(candidate, grader)
            if base is None or cand is None or base.score is None or cand.score is None:
                continue
            delta = cand.score - base.score
            if check.no_drop_beyond is not None and delta < -check.no_drop_beyond:
                problems.append(
                    f"{candidate} dropped {-delta:g} below {rubric.baseline} on {grader} "
                    f"({cand.score:g} vs {base.score:g}; allowed: {check.no_drop_beyond:g})"
                )
            if check.min_score is not None and cand.score < check.min_score:
                problems.append(
                    f"{candidate} scored {cand.score:g} on {grader}, below min_score "
                    f"{check.min_score:g}"
                )
    return problems
