"""The pytest shell: hooks only, each a few lines that hand work to `deltajudge.pipeline`.

Loaded in every pytest session of every project that installs deltajudge, so importing
it is cheap and silent: no openai, numpy or jinja2 until a rubric file is collected.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deltajudge.pytest_plugin import options, selection, xdist
from deltajudge.pytest_plugin.items import RubricFile, is_rubric_file
from deltajudge.pytest_plugin.notices import notices
from deltajudge.pytest_plugin.progress import ProgressLine
from deltajudge.pytest_plugin.session import evaluation_for, existing_evaluation

if TYPE_CHECKING:
    from deltajudge.reporting.model import Report


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    options.check(config)
    # The engine freezes the heap once the SDK is loaded (generation.caller): thawed at the
    # session's last cleanup, after pytest's own exit collections (registered first, this
    # runs last), so a process running several sessions (pytester) frees each one's objects.
    config.add_cleanup(gc.unfreeze)
    config.addinivalue_line("markers", "deltajudge: a deltajudge rubric case or gate")
    default = config.getoption("dj_default_path")
    if default and config.args_source != pytest.Config.ArgsSource.ARGS:
        # `deltajudge run` with no path: the rubric folder, not the whole project.
        folder = config.invocation_params.dir / default
        if not folder.is_dir():
            raise pytest.UsageError(
                f"no {default}/ folder in {config.invocation_params.dir}: name rubric files or "
                "folders (deltajudge run path/to/tone.yaml), or write a suite here with "
                "`deltajudge init --candidate-model MODEL`"
            )
        config.args = [str(folder)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not (is_rubric_file(file_path) or _named_rubric(file_path, parent.config)):
        return None
    return RubricFile.from_parent(parent, path=file_path)


def _named_rubric(path: Path, config: pytest.Config) -> bool:
    """A YAML file named on the command line is a rubric wherever it lives."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    named = config.stash.get(_NAMED, None)
    if named is None:
        here = config.invocation_params.dir
        named = config.stash[_NAMED] = {(here / a.split("::")[0]).resolve() for a in config.args}
    return path.resolve() in named


_NAMED = pytest.StashKey[set[Path]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    evaluation = existing_evaluation(config)
    if evaluation is None:
        return
    if evaluation.settings.limit is not None:  # the limit first: shards split its subset
        kept, dropped = selection.limited(items, evaluation.settings.limit)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    if evaluation.shard is not None:
        kept, dropped = selection.sharded(items, evaluation.shard)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    evaluation = existing_evaluation(session.config)
    if evaluation is not None:
        selection.select(evaluation, session.items)
        if xdist.is_worker(session.config):  # all workers collect all; each runs its shard
            session.config.stash[_RESULTS] = xdist.restrict(evaluation, session.config)


#: Where this session's raw results go (an xdist worker: its shard file in the run folder).
_RESULTS = pytest.StashKey[Path]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """pytest-xdist's controller, for each worker: its shard and the run's folder."""
    xdist.configure_node(node)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> object:
    evaluation = existing_evaluation(session.config)
    worker = xdist.is_worker(session.config)
    # An xdist worker runs even an empty shard: the others wait for its (empty) file.
    work = evaluation is not None and (evaluation.has_work or (worker and evaluation.selected))
    if evaluation is not None and work and not session.config.option.collectonly:
        progress = ProgressLine.for_config(session.config, evaluation.settings.progress)
        maxfail = session.config.option.maxfail or 0
        stop = selection.stop_after_failures(maxfail) if maxfail > 0 else None
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        announce = reporter.write_line if reporter is not None else None
        from deltajudge.results_file import FILE_NAME  # every run streams its raw results

        results = session.config.stash.get(_RESULTS, None)
        if results is None:
            results = session.config.rootpath / report_dir(session.config) / FILE_NAME
        evaluation.run(progress, stop, announce, results, conclude=not worker)
        if worker:
            xdist.note_failure(session.config, evaluation)
        if progress is not None:
            progress.finish()
        if evaluation.batch is not None:  # submitted or pending: no item has a verdict yet
            session.config.hook.pytest_deselected(items=list(session.items))
            session.items[:] = []
        if evaluation.failure is not None:  # say it once, not once per case
            session.shouldfail = "deltajudge could not run the evaluation (see the failure above)"
        if evaluation.results is not None and evaluation.results.interrupted:
            session.shouldstop = f"deltajudge: interrupted by {evaluation.results.interrupted}"
    return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if xdist.is_worker(session.config):
        return  # the controller writes the one set of reports
    evaluation = existing_evaluation(session.config)
    if evaluation is not None and evaluation.batch is not None:
        session.exitstatus = evaluation.batch.exit_code  # 75: submitted or pending, no verdict
        return
    merged = xdist.merge_on_controller(session.config)
    if merged is not None and merged.failure is not None:  # workers' items said it too
        session.config.stash[_MERGE_FAILURE] = str(merged.failure)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    evaluation = merged or evaluation
    if evaluation is None or evaluation.report is None:
        return
    directory = session.config.rootpath / report_dir(session.config)
    paths = evaluation.write_reports(directory)
    if merged is not None and merged.results is not None:
        from deltajudge.results_file import FILE_NAME
        from deltajudge.results_writer import write_results

        written = write_results(
            directory / FILE_NAME,
            merged.results,
            merged.rootdir,
            merged.agreements,
            tuple(merged.collection_notes),
        )
        paths.append(written)
    session.config.stash[_PATHS] = [str(p) for p in paths]
    if evaluation.results is not None and evaluation.results.exit_code:
        session.exitstatus = evaluation.results.exit_code  # 130 after Ctrl-C, 143 after SIGTERM


_PATHS = pytest.StashKey[list[str]]()
_MERGE_FAILURE = pytest.StashKey[str]()


def report_dir(config: pytest.Config) -> str:
    """A partial run (``-k``, ``--dj-limit``) or a shard writes beside the full run's
    folder, never over it, unless the command line names the folder."""
    evaluation = evaluation_for(config)
    chosen = evaluation.settings.report_dir
    if evaluation.shard is not None and config.getoption("dj_report_dir") is None:
        shard = evaluation.shard
        return f"{chosen.rstrip('/')}-shard-{shard.index}-of-{shard.count}"
    if evaluation.partial and config.getoption("dj_report_dir") is None:
        return f"{chosen.rstrip('/')}-partial"
    return chosen


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
    if evaluation is not None and evaluation.batch is not None:
        terminalreporter.section("deltajudge batch")
        for line in (evaluation.batch.headline, *evaluation.batch.lines):
            terminalreporter.write_line(line)
        return
    failure = terminalreporter.config.stash.get(_MERGE_FAILURE, None)
    if failure is not None:
        terminalreporter.section("deltajudge")
        terminalreporter.write_line(failure)
    if evaluation is None or evaluation.report is None:
        return
    from deltajudge.reporting.terminal import summary_lines

    terminalreporter.section("deltajudge")
    paths = terminalreporter.config.stash.get(_PATHS, [])
    for line in [*summary_lines(evaluation.report, paths), *notices(evaluation)]:
        terminalreporter.write_line(line)
