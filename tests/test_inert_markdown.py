"""Model text in summary.md is inert: rendered by a CommonMark + GFM-tables + linkify
renderer it makes no image, no link, no HTML, and leaves no @mention or #123 reference
for GitHub to turn into one, yet reads as the same text."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from deltajudge.reporting.markdown import WORD_JOINER, cell, render_markdown
from deltajudge.reporting.model import Report
from report_factory import make_report

#: What a hostile answer or prompt may hold (the fault-injection probe's 14 and more).
PAYLOADS = [
    "![beacon](https://evil.example/pixel.png?u=1)",
    "![ref][1] [1]: https://evil.example/p.png",
    "[click me](javascript:alert(1))",
    "[x](<https://evil.example>) [y][y] [y]: https://evil.example",
    "<https://evil.example/auto>",
    "plain https://evil.example/bare and ftp://evil.example",
    "www.evil.example/path",
    "<img src=x onerror=alert(1)>",
    "<a href='https://evil.example'>link</a>",
    "<script>alert(1)</script>",
    "<details open><summary>hidden</summary>",
    "&lt;img src=x&gt; &#60;img&#62;",
    "\\<img src=x\\>",
    "@octocat and @github/security please review",
    "fixes #123, see GH-42 and owner/repo#7",
    "mail someone@evil.example",
    "`code` ``two`` ```fence```",
    "| col | injected | cells |",
    "**bold** _em_ ~~strike~~ $\\href{https://evil.example}{math}$",
    "<!-- comment --> <?php ?> <![CDATA[x]]>",
]

_MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
_REFERENCE = re.compile(r"#\d|\bGH-\d", re.IGNORECASE)
_URL_TEXT = re.compile(r"https?://|ftp://|www\.", re.IGNORECASE)
#: The tags summary.md writes itself.
_OWN_HTML = {"<sub>", "</sub>"}


def _renderer() -> MarkdownIt:
    """GitHub's flavour as far as markdown-it goes: tables, strikethrough, linkify (GFM
    links bare URLs with a scheme or www., not bare domains)."""
    md = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(
        ["table", "strikethrough", "linkify"]
    )
    md.linkify.set({"fuzzy_link": False})  # type: ignore[union-attr]
    return md


def _tokens(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from _tokens(token.children or [])


def _assert_inert(markdown: str) -> None:
    for token in _tokens(_renderer().parse(markdown)):
        assert token.type not in ("image", "link_open"), token
        if token.type == "code_inline":  # only the commit summary.md names itself
            assert re.fullmatch("[0-9a-f]{12}", token.content), token.content
        if token.type in ("html_inline", "html_block"):
            assert token.content.strip() in _OWN_HTML, token.content
        if token.type == "text":
            assert not _MENTION.search(token.content), token.content
            assert not _REFERENCE.search(token.content), token.content
            assert not _URL_TEXT.search(token.content), token.content


def _visible(markdown: str) -> str:
    """The text a reader sees: rendered, tags dropped, entities decoded, joiners gone."""
    rendered = _renderer().render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace(WORD_JOINER, "")


def _in_cell(text: str) -> str:
    """``text`` as summary.md puts it in a table, and what the rendered cell then shows."""
    markdown = f"| said |\n| --- |\n| {cell(text, 200)} |\n"
    _assert_inert(markdown)
    cells = re.findall(r"<td>(.*?)</td>", _renderer().render(markdown), re.DOTALL)
    assert len(cells) == 1, cells
    return html.unescape(re.sub(r"<[^>]+>", "", cells[0])).replace(WORD_JOINER, "")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_each_payload_is_inert_and_reads_as_itself(payload: str) -> None:
    assert _in_cell(payload) == payload


@pytest.fixture(scope="module")
def report() -> Report:
    return make_report(40)


def test_a_whole_summary_with_hostile_answers_prompts_and_reasons_is_inert(
    report: Report,
) -> None:
    rubric = report.rubrics[0]
    hostile = " ".join(PAYLOADS)
    cases = []
    for index, case in enumerate(rubric.cases):
        samples = {
            alias: s.model_copy(update={"output_text": PAYLOADS[index % len(PAYLOADS)]})
            for alias, s in case.samples.items()
        }
        prompt = PAYLOADS[(index + 1) % len(PAYLOADS)]
        cases.append(case.model_copy(update={"prompt": prompt, "samples": samples}))
    gates = [replace(g, reason=hostile, name=PAYLOADS[0]) for g in rubric.gates]
    hostile_rubric = rubric.model_copy(update={"cases": cases, "gates": gates, "name": PAYLOADS[7]})
    markdown = render_markdown(
        report.model_copy(update={"rubrics": [hostile_rubric], "notes": [hostile]}),
        top_regressions=40,
    )

    assert markdown.count("\n| ") > 10  # the tables are there, with the payloads in them
    _assert_inert(markdown)
    seen = _visible(markdown)
    assert "<img src=x onerror=alert(1)>" in seen and "[click me](javascript:alert(1))" in seen


_MARKUP = st.text(
    alphabet=st.sampled_from(list("![]()<>`*_~|\\&#@:/.wg h-$=\"'{}1aZ\n")), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(text=_MARKUP)
def test_any_text_in_a_cell_renders_nothing_active(text: str) -> None:
    assert _in_cell(text) == " ".join(text.split())
