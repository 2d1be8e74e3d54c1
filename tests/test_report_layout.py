"""The HTML report's first screen and layout, in Debian's Chromium at 1,000 and 1,400 px.

What a reader must see without scrolling (the gates' verdict, the models by id, the
headlines), that the colours cannot mislead (a failed gate is never beside a large green
banner: checked on the screenshot's pixels), that nothing is cut off or overlaps, and that
a report too big to render in full keeps every case searchable with no network request.
Skipped, saying so, where /usr/bin/chromium is missing: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from chromium import launched
from deltajudge.gating.outcome import Verdict
from deltajudge.reporting.html import render_html, write_html
from deltajudge.reporting.html_index import DETAIL_CAP
from deltajudge.reporting.markdown import headline
from deltajudge.reporting.model import Report
from report_factory import INJECT_SCRIPT, make_report

WIDTHS = (1000, 1400)
SCREEN_HEIGHT = 900
#: Colours of the stylesheet (light scheme): the banner's and the badges'.
RED, GREEN = (198, 40, 40), (26, 127, 55)


def _with_verdicts(report: Report, *, all_pass: bool = False) -> Report:
    """The factory's run with verdicts recorded (tone: better), and optionally every gate
    passing: the case the issue saw, a "better" headline next to failed gates."""
    rubric = report.rubrics[0].model_copy(deep=True)
    for c in rubric.comparisons:
        better = c.grader == "tone"
        c.verdict = Verdict("better" if better else "worse", "CI and Wilcoxon agree", 0.001)
    if all_pass:
        rubric.gates = [replace(g, passed=True) for g in rubric.gates]
    return report.model_copy(update={"rubrics": [rubric]})


def _tiled(n: int) -> Report:
    """A report of ``n`` cases made from the factory's 400 (ids kept unique): the renderer
    only reads cases, and building 100,000 genuine ones takes minutes."""
    report = make_report(400)
    rubric = report.rubrics[0]
    cases = [
        rubric.cases[i % 400].model_copy(update={"id": f"case-{i:06d}", "line": i + 1})
        for i in range(n)
    ]
    big = rubric.model_copy(update={"cases": cases, "cases_selected": n, "cases_total": n})
    return report.model_copy(update={"rubrics": [big]})


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


def _open(browser: Browser, path: Path, width: int) -> tuple[Page, list[str]]:
    """The page at ``width`` × 900, light scheme; the list collects errors and any request
    that is not the file itself."""
    context = browser.new_context(
        viewport={"width": width, "height": SCREEN_HEIGHT}, color_scheme="light"
    )
    page = context.new_page()
    trouble: list[str] = []
    page.on("pageerror", lambda e: trouble.append(f"page error: {e}"))
    page.on("console", lambda m: trouble.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: trouble.append(r.url) if r.url != path.as_uri() else None)
    page.goto(path.as_uri())
    return page, trouble


def _colour_counts(browser: Browser, png: bytes) -> dict[str, int]:
    """Pixels close to the banner red and the pass green in a screenshot, counted by
    Chromium itself on a blank page (the report's CSP rightly forbids images)."""
    page = browser.new_page()
    counts: dict[str, int] = page.evaluate(
        """async ([data, red, green]) => {
             const blob = await (await fetch("data:image/png;base64," + data)).blob();
             const bitmap = await createImageBitmap(blob);
             const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
             const ctx = canvas.getContext("2d");
             ctx.drawImage(bitmap, 0, 0);
             const px = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
             const near = (i, c) => Math.abs(px[i] - c[0]) + Math.abs(px[i + 1] - c[1])
                                    + Math.abs(px[i + 2] - c[2]) < 30;
             let r = 0, g = 0;
             for (let i = 0; i < px.length; i += 4) {
               if (near(i, red)) r++;
               if (near(i, green)) g++;
             }
             return {red: r, green: g};
           }""",
        [base64.b64encode(png).decode(), RED, GREEN],
    )
    page.close()
    return counts


def _bottom(page: Page, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box["y"] + box["height"]


OVERFLOWS = """() => {
  const out = [];
  const page = document.documentElement.scrollWidth;
  if (page > innerWidth) out.push("page " + page);
  for (const el of document.querySelectorAll(".scroll, table, .head"))
    if (el.scrollWidth > el.clientWidth + 1)
      out.push(el.className + " " + el.scrollWidth + ">" + el.clientWidth);
  const head = Array.from(document.querySelectorAll(".head > span"));
  for (let i = 0; i + 1 < head.length; i++) {
    const a = head[i].getBoundingClientRect(), b = head[i + 1].getBoundingClientRect();
    if (a.right > b.left + 0.5) out.push("heading " + i + " overlaps the next");
    const button = head[i].querySelector("button");
    if (button.scrollWidth > button.clientWidth + 1) out.push("heading " + i + " cut");
  }
  return out;
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_a_failed_gate_leads_in_red_with_the_models_and_headlines_on_the_first_screen(
    browser: Browser, tmp_path: Path, width: int
) -> None:
    report = _with_verdicts(make_report(30, candidates=("candidate", "sft")))
    path = write_html(report, tmp_path / "report.html")
    page, trouble = _open(browser, path, width)
    gates = report.rubrics[0].gates
    failed = [g for g in gates if not g.passed]
    banner = page.get_by_test_id("gate-summary")
    assert banner.inner_text() == f"✗ {len(failed)} of {len(gates)} gates failed"
    assert banner.get_attribute("data-state") == "fail"
    listed = page.get_by_test_id("failed-gates").inner_text()
    assert all(g.name in listed and g.reason in listed for g in failed)
    for c in report.rubrics[0].comparisons:
        line = page.locator(
            f"[data-testid=headline][data-candidate={c.candidate}][data-grader={c.grader}]"
        )
        assert line.inner_text() == headline(c)
    for alias in ("base", "candidate", "sft"):
        row = page.locator(f"[data-testid=lead-models] tr[data-model={alias}]")
        assert report.models[alias].model in row.inner_text()
        assert _bottom(page, f"[data-testid=lead-models] tr[data-model={alias}]") <= SCREEN_HEIGHT
    assert _bottom(page, "[data-testid=headline]:last-child") <= SCREEN_HEIGHT
    shot = page.screenshot(path=str(tmp_path / f"first-screen-{width}.png"))
    colours = _colour_counts(browser, shot)
    banner_box = banner.bounding_box()
    assert banner_box is not None
    # the banner is red and large; what green there is (a thin edge, badges) is minor
    assert colours["red"] > 0.8 * banner_box["width"] * banner_box["height"]
    assert colours["green"] < colours["red"] / 4
    page.context.close()
    assert trouble == []


def test_all_gates_passing_is_the_one_green_banner(browser: Browser, tmp_path: Path) -> None:
    report = _with_verdicts(make_report(30), all_pass=True)
    path = write_html(report, tmp_path / "report.html")
    page, trouble = _open(browser, path, 1000)
    banner = page.get_by_test_id("gate-summary")
    assert banner.inner_text() == f"✓ All {len(report.rubrics[0].gates)} gates passed"
    assert page.get_by_test_id("failed-gates").count() == 0
    colours = _colour_counts(browser, page.screenshot(path=str(tmp_path / "passing.png")))
    assert colours["green"] > 20_000 and colours["red"] < colours["green"] / 4
    page.context.close()
    assert trouble == []


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_cut_off_or_overlaps(browser: Browser, tmp_path: Path, width: int) -> None:
    """Two candidates on two graders: ten score and delta columns in the cases table."""
    report = _with_verdicts(make_report(30, candidates=("candidate", "sft")))
    path = write_html(report, tmp_path / "report.html")
    page, trouble = _open(browser, path, width)
    assert page.evaluate(OVERFLOWS) == []
    last = page.locator("[data-testid=case-head] > span").last
    box = last.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width  # the last Δ column is there
    assert last.inner_text().endswith("Δ sft")
    page.screenshot(path=str(tmp_path / f"full-{width}.png"), full_page=True)
    page.context.close()
    assert trouble == []


def test_a_big_report_renders_the_worst_cases_and_searches_all(
    browser: Browser, tmp_path: Path
) -> None:
    report = _tiled(3000)
    html = render_html(report)
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    rubric = report.rubrics[0]
    regressed = [c for c in rubric.cases if c.regressed]
    assert html.count('data-testid="case-row"') == DETAIL_CAP < len(rubric.cases)
    assert INJECT_SCRIPT not in html and "<img" not in html  # the JSON block is escaped too
    page, trouble = _open(browser, path, 1400)
    assert (
        "300 of 3,000 cases are shown in full" in page.get_by_test_id("cases-capped").inner_text()
    )
    shown = page.locator("[data-testid=case-row]").evaluate_all(
        "rs => rs.map(r => r.dataset.caseId)"
    )
    assert len(regressed) > DETAIL_CAP  # so the page shows only the worst regressions
    worst = {c.id: min(d for by in c.deltas.values() for d in by.values() if d is not None)
             for c in regressed}  # fmt: skip
    assert set(shown) <= set(worst)
    assert max(worst[i] for i in shown) <= min(d for i, d in worst.items() if i not in shown)
    index = page.get_by_test_id("case-index")
    assert index.locator("tbody tr").count() == 0  # nothing built until asked
    index.locator("summary").click()
    expect(page.get_by_test_id("case-search-count")).to_have_text("first 200 of 3000 matches")
    search = page.get_by_test_id("case-search")
    search.fill("case-002917")
    rows = index.locator("tbody tr")
    expect(rows).to_have_count(1)
    case = rubric.cases[2917]
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == "case-002917" and cells[1] == " ".join(case.prompt.split())[:90]
    assert cells[2:4] == [f"{case.samples['base'].scores['tone']:.0f}",
                          f"{case.samples['candidate'].scores['tone']:.0f}"]  # fmt: skip
    search.fill("refund")
    matching = sum("refund" in c.prompt.lower() for c in rubric.cases)
    expect(page.get_by_test_id("case-search-count")).to_have_text(
        f"first 200 of {matching} matches"
    )
    search.fill("")
    index.locator(".q-reg").check()
    total = len(regressed)
    expected = f"first 200 of {total} matches" if total > 200 else f"{total} matches"
    expect(page.get_by_test_id("case-search-count")).to_have_text(expected)
    # a header sorts every match, not only the 200 shown: the worst regressions first
    delta = index.locator("thead button", has_text="tone Δ candidate")  # not helpfulness
    delta.click()
    expect(delta).to_have_attribute("data-dir", "asc")
    tone = {c.id: c.deltas["candidate"]["tone"] for c in regressed}
    assert None not in tone.values()
    first = rows.evaluate_all("rs => rs.map(r => r.firstElementChild.textContent)")
    assert len(first) == min(200, total)
    assert [tone[i] for i in first] == sorted(tone.values())[: len(first)]
    delta.click()  # descending: the mildest regressions first
    expect(delta).to_have_attribute("data-dir", "desc")
    first = rows.evaluate_all("rs => rs.map(r => r.firstElementChild.textContent)")
    assert [tone[i] for i in first] == sorted(tone.values(), reverse=True)[: len(first)]
    index.locator(".q-reg").uncheck()
    index.locator("thead button", has_text=re.compile("^case$")).click()  # natural order
    first = rows.evaluate_all("rs => rs.map(r => r.firstElementChild.textContent)")
    assert first == [c.id for c in rubric.cases[:200]]
    assert page.evaluate(OVERFLOWS) == []
    page.context.close()
    assert trouble == []  # no request but the file, no script error


def test_the_big_page_keeps_its_hash_pinned_csp() -> None:
    html = render_html(_tiled(DETAIL_CAP + 1))
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert found is not None
    csp = unescape(found.group(1))
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1  # ours; the case index is inert JSON
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe" not in csp
    block = re.search(
        r'<script type="application/json" class="case-data">(.*?)</script>', html, re.S
    )
    assert block is not None and "<" not in block.group(1)
