"""Checks on top of the tone rubric's results: run with ``deltajudge run rubrics/ evals/``.

The ``dj_report`` fixture is this session's report, after the engine ran every selected
rubric case, so these tests read figures and never call a model.
"""

from __future__ import annotations

from deltajudge.reporting.model import Report


def test_no_candidate_answer_is_empty(dj_report: Report) -> None:
    rubric = dj_report.rubric("good_vibes_tone")
    empty = [c.id for c in rubric.cases if not c.samples["candidate"].output_text.strip()]
    assert not empty, f"empty candidate answers: {empty}"


def test_every_model_has_token_accounting(dj_report: Report) -> None:
    for alias, info in dj_report.models.items():
        tokens = info.tokens
        assert tokens.calls + tokens.cached_calls > 0, f"{alias} made no calls"
