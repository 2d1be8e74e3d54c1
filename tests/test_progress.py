"""The progress line's words: how far, how fast, and how long is left."""

from __future__ import annotations

from deltajudge.pytest_plugin.progress import progress_text


def test_the_line_shows_rate_and_time_left_from_the_cases_finished() -> None:
    assert progress_text(20, 80, 1, 10.0) == (
        "deltajudge: 20/80 cases, 2.0 cases/s, 1 with errors, 10.0 s, ETA 30 s"
    )


def test_no_rate_before_the_first_case_and_no_eta_at_the_end() -> None:
    assert progress_text(0, 80, 0, 0.5) == "deltajudge: 0/80 cases, 0 with errors, 0.5 s"
    assert progress_text(80, 80, 0, 40.0) == (
        "deltajudge: 80/80 cases, 2.0 cases/s, 0 with errors, 40.0 s"
    )
