"""The fixed costs of a small run stay cut: a one-case run does not import scipy,
and the HTML report's templates are compiled once, not on every run."""

from __future__ import annotations

import pytest
import scipy.stats
from jinja2 import FileSystemBytecodeCache

from conftest import Project, rubric_text, scores_by_marker
from deltajudge.reporting import html

STATS_PROBE = """
import sys


def pytest_sessionfinish(session):
    print("scipy imported:", sorted(m for m in sys.modules if m.split(".")[0] == "scipy")[:3])
"""


def test_a_one_case_run_does_not_import_scipy(project: Project) -> None:
    """One case, both models scored alike: nothing to resample and nothing moved, so the
    figures (pass-rate intervals, normal quantiles) come from the standard library alone;
    a run with cases to resample still imports scipy.stats (tests/test_cache.py checks)."""
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 3}))
    gate = "  - metric: mean_delta\n    grader: quality\n    min: -1\n"
    project.write(rubric_text(gates=gate), rows=[{"id": "only", "input": "one question"}])
    (project.path / "conftest.py").write_text(STATS_PROBE)

    result = project.run_subprocess("--dj-no-cache")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*scipy imported: []"])
    rubric = project.rubric_report()
    figures = [model["graders"]["quality"] for model in rubric["models"].values()]
    expected = scipy.stats.binomtest(1, 1).proportion_ci(method="wilson")
    assert len(figures) == 2
    assert all(f["pass_rate_ci_low"] == pytest.approx(expected.low, rel=1e-13) for f in figures)


def test_the_report_templates_are_compiled_once_for_later_runs(project: Project) -> None:
    """After one page is rendered, jinja2's bytecode cache holds every template the page
    uses, so the next process loads them instead of compiling; an edited template misses."""
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 3}))
    project.write(rows=[{"id": "only", "input": "one question"}])
    project.run().assert_outcomes(passed=1)
    assert (project.path / "reports" / "latest" / "report.html").exists()

    env = html._env()
    cache = env.bytecode_cache
    assert isinstance(cache, FileSystemBytecodeCache)
    assert env.loader is not None
    for name in ("report.html.j2", "_cases.html.j2", "_style.css.j2", "_script.js.j2"):
        source, filename, _ = env.loader.get_source(env, name)
        assert cache.get_bucket(env, name, filename, source).code is not None, name
        assert cache.get_bucket(env, name, filename, source + "{# edited #}").code is None


def test_a_session_without_rubric_files_loads_no_rubric_schema(pytester: pytest.Pytester) -> None:
    """The plugin loads in every pytest session of a project that installs deltajudge: the
    rubric schema (pydantic models, PyYAML; about 0.25 s) waits for a rubric file."""
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    heavy = ('pydantic', 'yaml', 'deltajudge.judging.rubric', 'deltajudge.gating.names')\n"
        "    open('imported.txt', 'w').write(' '.join(m for m in heavy if m in sys.modules))\n"
    )

    result = pytester.runpytest_subprocess("-p", "no:hypothesispytest")

    result.assert_outcomes(passed=1)
    assert (pytester.path / "imported.txt").read_text() == ""


FREEZE_PROBE = """
import atexit
import gc

import _pytest.unraisableexception as unraisable

_collect = unraisable.gc_collect_harder


def probe(iterations):
    print("exit collection sees frozen:", gc.get_freeze_count())
    _collect(iterations)


unraisable.gc_collect_harder = probe
atexit.register(lambda: print("at exit frozen:", gc.get_freeze_count()))
"""


def test_pytests_exit_collections_skip_the_frozen_sdk_and_the_heap_is_thawed_after(
    project: Project,
) -> None:
    """Once the SDK is loaded the heap is frozen, so pytest's two exit collections (its
    unraisable-exception check) walk only what the run made since; the session's last
    cleanup thaws it, so a process running several sessions frees each one's objects."""
    project.server.set_rules(scores_by_marker({"[base-m]": 3, "[cand-m]": 3}))
    project.write(rows=[{"id": "only", "input": "one question"}])
    (project.path / "conftest.py").write_text(FREEZE_PROBE)

    result = project.run_subprocess("--dj-no-cache", "-s")

    result.assert_outcomes(passed=1)
    frozen = [int(line.rsplit(":", 1)[1]) for line in result.outlines if "sees frozen" in line]
    assert len(frozen) == 2 and min(frozen) > 10_000, result.outlines[-20:]
    result.stdout.fnmatch_lines(["at exit frozen: 0"])
