"""The HTML report, checked as text and in a real browser (Debian's chromium, offline).

Browser tests open the written file from a ``file://`` URL, as a user would after a run:
    apt-get install -y chromium
They are skipped, saying so, where /usr/bin/chromium is missing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from markupsafe import escape
from playwright.sync_api import Browser, Dialog, Page

from chromium import launched
from deltajudge.reporting import svg
from deltajudge.reporting.html import render_html, write_html
from deltajudge.reporting.html_cases import word_diff
from deltajudge.reporting.markdown import headline
from deltajudge.reporting.model import Report
from report_factory import INJECT_IMG, INJECT_SCRIPT, JUDGE_NOTE, make_report, with_extras


@pytest.fixture(scope="module")
def report() -> Report:
    return make_report(30, candidates=("candidate", "sft"))


@pytest.fixture(scope="module")
def html(report: Report) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def url(report: Report, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_html(report, tmp_path_factory.mktemp("html") / "report.html").as_uri()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser, url: str) -> Iterator[Page]:
    """The report, loaded; fails the test on any dialog, script error or console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    trouble: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        trouble.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: trouble.append(f"page error: {e}"))
    page.on("console", lambda m: trouble.append(m.text) if m.type == "error" else None)
    page.goto(url)
    yield page
    context.close()
    assert trouble == []


def _visible_ids(page: Page) -> set[str]:
    """Ids of the case rows on screen (one round trip, not one per row)."""
    ids: list[str] = page.locator("[data-testid=case-row]").evaluate_all(
        "rows => rows.filter(r => r.getClientRects().length > 0).map(r => r.dataset.caseId)"
    )
    return set(ids)


def _row_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator("[data-testid=case-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.caseId)"
    )
    return ids


# --- in the browser -------------------------------------------------------------------


def test_overview_shows_the_reports_numbers(page: Page, report: Report, tmp_path: Path) -> None:
    rubric = report.rubrics[0]
    for c in rubric.comparisons:
        line = page.locator(
            f"[data-testid=headline][data-candidate={c.candidate}][data-grader={c.grader}]"
        )
        assert line.inner_text() == headline(c)
        assert f"{c.mean_delta:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}]" in line.inner_text()
        assert line.is_visible()
    for grader in ("tone", "helpfulness"):
        figures = page.locator(f"[data-testid=grader-{grader}] [data-testid=model-figures]")
        for alias, by_grader in rubric.models.items():
            mean = by_grader.graders[grader].mean
            cell = figures.locator(f"tr[data-model={alias}] [data-testid=mean]")
            assert cell.inner_text() == f"{mean:.2f}"
        assert page.get_by_test_id(f"means-0-{grader}").is_visible()
        assert page.get_by_test_id(f"deltas-0-{grader}").is_visible()
    passed = sum(g.passed for g in rubric.gates)
    assert page.locator("[data-testid=gate][data-passed=true]").count() == passed
    assert (
        page.locator("[data-testid=gate][data-passed=false]").count() == len(rubric.gates) - passed
    )
    summary = f"✗ {len(rubric.gates) - passed} of {len(rubric.gates)} gates failed"
    assert page.get_by_test_id("gate-summary").inner_text() == summary
    assert JUDGE_NOTE in page.get_by_test_id("notes").inner_text()
    # the verdict is readable without scrolling
    first = page.locator("[data-testid=headline]").first.bounding_box()
    assert first is not None and first["y"] + first["height"] < 900
    page.screenshot(path=str(tmp_path / "report-overview.png"))


def test_filters_show_exactly_the_regressed_or_errored_cases(page: Page, report: Report) -> None:
    cases = report.rubrics[0].cases
    assert len(_visible_ids(page)) == len(cases)
    page.get_by_test_id("filter-regressions").check()
    regressed = {c.id for c in cases if c.regressed}
    assert regressed and _visible_ids(page) == regressed
    page.get_by_test_id("filter-errors").check()
    assert _visible_ids(page) == {"case-0005", "case-0011"}
    page.get_by_test_id("filter-all").check()
    assert len(_visible_ids(page)) == len(cases)


def test_regressions_come_first_and_columns_sort(page: Page, report: Report) -> None:
    case = {c.id: c for c in report.rubrics[0].cases}
    flags = [case[i].regressed for i in _row_ids(page)]
    assert flags == sorted(flags, reverse=True) and flags[0]
    page.locator("[data-testid=case-head] button", has_text="Δ candidate").first.click()
    deltas = [case[i].deltas["candidate"]["tone"] for i in _row_ids(page)]
    known = [d for d in deltas if d is not None]
    assert known == sorted(known) and deltas[-1] is None  # blanks last
    page.get_by_test_id("sort-reset").click()
    assert case[_row_ids(page)[0]].regressed


def test_expanding_a_case_shows_every_answer_as_text(page: Page, report: Report) -> None:
    case = report.rubrics[0].cases[0]
    row = page.locator("[data-case-id=case-0000]")
    assert not row.locator("[data-model=base]").is_visible()
    row.locator("summary").click()
    base = row.locator("section[data-model=base]")
    candidate = row.locator("section[data-model=candidate]")
    assert base.is_visible() and candidate.is_visible()
    assert " ".join(case.samples["base"].output_text.split()) in " ".join(base.inner_text().split())
    assert INJECT_IMG in base.inner_text()
    assert INJECT_SCRIPT in candidate.inner_text()  # shown as text, inside the word diff
    assert candidate.locator("ins").count() > 0
    assert row.get_by_text(INJECT_SCRIPT).is_visible()
    # hostile strings stayed text: the only script is ours, and there is no image at all
    assert page.locator("script").count() == 1
    assert page.locator("img").count() == 0


def test_csp_blocks_a_script_that_got_in_anyway(browser: Browser, url: str) -> None:
    page = browser.new_page()
    page.goto(url)
    ran = page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.pwned = 1'; document.body.append(s);
                   return window.pwned === 1; }"""
    )
    assert ran is False
    page.close()


def test_without_javascript_overview_and_filters_still_work(
    browser: Browser, url: str, report: Report
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    assert page.locator("[data-testid=headline]").first.is_visible()
    assert page.get_by_test_id("means-0-tone").is_visible()
    assert page.locator("[data-testid=case-head] button").first.is_disabled()
    page.get_by_test_id("filter-regressions").check()
    assert _visible_ids(page) == {c.id for c in report.rubrics[0].cases if c.regressed}
    context.close()


# --- as text ----------------------------------------------------------------------------


def test_data_strings_are_escaped(html: str) -> None:
    assert INJECT_SCRIPT not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html


def test_page_is_self_contained_and_locked_down(html: str) -> None:
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", html)
    assert "<link" not in html and "@import" not in html
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert found is not None
    csp = unescape(found.group(1))
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        assert body is not None
        digest = base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_word_diff_marks_changes_and_escapes() -> None:
    diff = word_diff("Hello, I can <b>help</b>.", "Hi, I can <b>help</b>. Anything else?")
    assert diff == (
        "<del>Hello,</del> <ins>Hi,</ins> I can &lt;b&gt;help&lt;/b&gt;. <ins>Anything else?</ins>"
    )
    assert word_diff("completely different words here", "nothing in common at all") is None


def test_reports_without_comparisons_or_ranges_render(report: Report) -> None:
    rubric = report.rubrics[0]
    graders = [g.model_copy(update={"range": None, "pass_threshold": None}) for g in rubric.graders]
    bare = rubric.model_copy(
        update={"candidates": [], "comparisons": [], "gates": [], "graders": graders, "cases": []}
    )
    html = render_html(
        report.model_copy(update={"rubrics": [bare], "notes": [], "git_commit": None})
    )
    assert 'data-testid="headline"' not in html and "No gates: this run cannot fail CI" in html


def test_pairwise_candidate_pairs_and_noise_render(report: Report) -> None:
    extended = with_extras(report)
    html = render_html(extended)
    rubric = extended.rubrics[0]
    for c in rubric.comparisons:
        assert escape(headline(c)) in html
    assert html.count('data-testid="inconsistent"') == 2
    assert "3 of 29 candidate verdicts flipped" in html
    assert 'data-testid="noise"' in html and "smallest mean delta these 30 cases" in html
    assert "candidate vs base</button>" in html  # a preference column, no baseline score
    assert 'data-testid="means-0-preference"' in html


def test_charts_escape_labels_and_pick_round_ticks() -> None:
    chart = svg.dot_whisker(
        [svg.Interval("<b>x</b>", 1.0, 0.5, 1.5, "m0")], (0, 4), testid="t", title='a"b'
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in chart and "<b>" not in chart and "a&#34;b" in chart
    assert svg.nice_ticks(0, 4) == [0, 1, 2, 3, 4]
    assert svg.nice_ticks(-0.66, 0.66) == [-1, -0.5, 0, 0.5, 1]


def test_two_thousand_cases_stay_under_eight_megabytes() -> None:
    size = len(render_html(make_report(2000, candidates=("candidate", "sft"))).encode())
    assert size < 8_000_000
