"""The progress line's words: how far, how fast, what it cost in tokens, how long is left."""

from __future__ import annotations

from deltajudge.engine import Tick
from deltajudge.pytest_plugin.progress import progress_text


def _tick(done: int, calls: int, cached: int = 0, errors: int = 0) -> Tick:
    return Tick(done=done, total=80, errors=errors, calls=calls, cached=cached, tokens=9120)


def test_the_line_shows_rates_tokens_and_time_left_from_the_cases_finished() -> None:
    assert progress_text(_tick(20, 80, cached=4, errors=1), 10.0) == (
        "deltajudge: 20/80 cases, 8.0 calls/s, 80 calls (4 cached), 9,120 tokens, "
        "1 with errors, 10.0 s, ETA 30 s"
    )


def test_no_rate_before_the_first_call_and_no_eta_at_the_end() -> None:
    assert progress_text(_tick(0, 0), 0.5) == (
        "deltajudge: 0/80 cases, 0 calls, 9,120 tokens, 0 with errors, 0.5 s"
    )
    assert progress_text(_tick(80, 320), 40.0) == (
        "deltajudge: 80/80 cases, 8.0 calls/s, 320 calls, 9,120 tokens, 0 with errors, 40.0 s"
    )


def test_the_money_spent_so_far_appears_once_there_is_any() -> None:
    tick = Tick(done=20, total=80, errors=0, calls=80, cached=0, tokens=9120, cost_usd=0.01234)
    assert ", 9,120 tokens, $0.0123, 0 with errors," in progress_text(tick, 10.0)
