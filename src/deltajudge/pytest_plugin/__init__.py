"""The pytest shell: hooks only, each a few lines that hand work to `deltajudge.pipeline`.

Loaded in every pytest session of every project that installs deltajudge, so importing
it is cheap and silent: no openai, numpy or jinja2 until a rubric file is collected.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deltajudge.pytest_plugin import options
from deltajudge.pytest_plugin.items import CaseItem, GateItem, RubricFile, is_rubric_file
from deltajudge.pytest_plugin.progress import ProgressLine
from deltajudge.pytest_plugin.session import existing_evaluation

if TYPE_CHECKING:
    from deltajudge.reporting.model import Report


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    options.check(config)
    config.addinivalue_line("markers", "deltajudge: a deltajudge rubric case or gate")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_rubric_file(file_path):
        return RubricFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    evaluation = existing_evaluation(session.config)
    if evaluation is None:
        return
    by_rubric: dict[Path, list[str]] = {}
    gated: set[Path] = set()
    for item in session.items:
        if isinstance(item, CaseItem):
            by_rubric.setdefault(item.loaded.path, []).append(item.case.id)
        elif isinstance(item, GateItem):
            gated.add(item.loaded.path)
    for path in gated - by_rubric.keys():  # a gate selected on its own needs its cases
        by_rubric[path] = [c.id for c in evaluation.rubrics[path].cases]
    for path, ids in by_rubric.items():
        evaluation.select(path, ids)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> object:
    evaluation = existing_evaluation(session.config)
    if evaluation is not None and evaluation.has_work and not session.config.option.collectonly:
        progress = ProgressLine.for_config(session.config, evaluation.settings.progress)
        evaluation.run(progress)
        if progress is not None:
            progress.finish()
        if evaluation.results is not None and evaluation.results.interrupted:
            session.shouldstop = f"deltajudge: interrupted by {evaluation.results.interrupted}"
    return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    evaluation = existing_evaluation(session.config)
    if evaluation is None or evaluation.report is None:
        return
    directory = session.config.rootpath / evaluation.settings.report_dir
    session.config.stash[_PATHS] = [str(p) for p in evaluation.write_reports(directory)]
    if evaluation.results is not None and evaluation.results.exit_code:
        session.exitstatus = evaluation.results.exit_code  # 130 after Ctrl-C, 143 after SIGTERM


_PATHS = pytest.StashKey[list[str]]()


@pytest.fixture
def dj_report(request: pytest.FixtureRequest) -> Report:
    """This session's `Report`, for custom checks on top of the rubric results."""
    evaluation = existing_evaluation(request.config)
    if evaluation is None or evaluation.report is None:
        reason = evaluation.failure if evaluation is not None else None
        pytest.fail(
            f"no deltajudge results in this session{f' ({reason})' if reason else ''}: "
            "collect the rubric files with this test: `deltajudge run rubrics/ evals/`",
            pytrace=False,
        )
    return evaluation.report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    evaluation = existing_evaluation(terminalreporter.config)
    if evaluation is None or evaluation.report is None:
        return
    from deltajudge.reporting.terminal import summary_lines

    terminalreporter.section("deltajudge")
    paths = terminalreporter.config.stash.get(_PATHS, [])
    for line in summary_lines(evaluation.report, paths):
        terminalreporter.write_line(line)
