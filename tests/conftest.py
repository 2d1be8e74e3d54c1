"""Shared fixtures: a scripted OpenAI-compatible server on loopback, and a pytester project
(rubric + data set + deltajudge.toml) whose model aliases point at it.

The heavy modules (openai, numpy, scipy, the pipeline, the renderers) are imported here
once: pytester's in-process runs drop every module a run imported for the first time, so
without this each run would import openai again (about a second).
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deltajudge.testing import RecordedRequest, Reply, Rule, ScriptedServer

# In-process pytester runs drop the modules they imported when they end, and numpy
# cannot be imported twice in one process: import everything the library loads lazily
# (the SDK, the statistics, the renderers) once, here.
for _module in (
    "openai",
    "deltajudge.pipeline",
    "deltajudge.generation.endpoints",
    "deltajudge.generation.sdk",
    "deltajudge.stats.rubric",
    "scipy.stats",  # the statistics import it when they resample or rank
    "deltajudge.gating.gates",
    "deltajudge.reporting.html",
    "deltajudge.reporting.markdown",
):
    importlib.import_module(_module)

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"

#: Plugins the inner runs do without: hypothesis imports itself anew on every in-process
#: run (about a second), and neither they nor pytest's cache are under test here.
QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:asyncio")

#: The default data set: prompt rows with explicit ids.
PROMPTS = {"case-1": "question one", "case-2": "question two", "case-3": "question three"}

DEFAULT_GRADER = """\
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    pass_threshold: 2
    input:
      - role: system
        content: You grade answers.
      - role: user
        content: "Question: {{ prompt }} Answer: {{ sample.output_text }}"
"""


def rubric_text(
    *,
    name: str = "demo",
    dataset: str = "../data/demo.jsonl",
    models: Sequence[str] = ("base", "cand"),
    graders: str = DEFAULT_GRADER,
    gates: str = "",
    extra: str = "",
) -> str:
    text = f"name: {name}\ndataset: {dataset}\nmodels: [{', '.join(models)}]\ngraders:\n{graders}"
    # No gates given: `gates: []`, so the counts of these tests are their cases only (a
    # rubric file with no `gates:` key at all gets the default gates).
    text += f"gates:\n{gates}" if gates else "gates: []\n"
    return text + extra


def prompt_rows(prompts: Mapping[str, str] = PROMPTS) -> list[dict[str, Any]]:
    return [{"id": case_id, "input": text} for case_id, text in prompts.items()]


def preference_pair(i: int, good: str, bad: str) -> dict[str, Any]:
    """A labelled pair in OpenAI's DPO format: the judge should prefer ``good``."""
    return {
        "id": f"p{i}",
        "input": {"messages": [{"role": "user", "content": f"question number {i}"}]},
        "preferred_output": [{"role": "assistant", "content": good}],
        "non_preferred_output": [{"role": "assistant", "content": bad}],
    }


def judge_json(score: float, reasoning: str = "because") -> Reply:
    return Reply(json={"reasoning": reasoning, "score": score})


@dataclass
class Project:
    """A directory pytester runs in, with the scripted server behind every alias."""

    pytester: pytest.Pytester
    server: ScriptedServer
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.pytester.path

    # -- files ---------------------------------------------------------------------------

    def write(
        self,
        rubric: str | None = None,
        rows: Sequence[dict[str, Any]] | None = None,
        *,
        rubric_name: str = "demo",
        dataset_name: str = "demo",
        api: str = "chat",
        config_extra: str = "",
        models: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Project:
        """Write rubrics/<rubric_name>.yaml, data/<dataset_name>.jsonl and deltajudge.toml."""
        self.write_rubric(rubric if rubric is not None else rubric_text(), rubric_name)
        self.write_rows(prompt_rows() if rows is None else rows, dataset_name)
        self.write_config(api=api, extra=config_extra, models=models)
        return self

    def write_rubric(self, text: str, name: str = "demo") -> Path:
        path = self.path / "rubrics" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def write_rows(self, rows: Sequence[dict[str, Any] | str], name: str = "demo") -> Path:
        path = self.path / "data" / f"{name}.jsonl"
        path.parent.mkdir(exist_ok=True)
        lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def write_config(
        self,
        *,
        api: str = "chat",
        extra: str = "",
        models: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Path:
        """Aliases base/cand/judge (models base-m/cand-m/judge-m) on the scripted server."""
        self.models = {
            alias: {"model": f"{alias}-m", "base_url": self.server.url, "api": api}
            for alias in ("base", "cand", "judge")
        }
        for alias, values in (models or {}).items():
            self.models.setdefault(alias, {}).update(values)
        text = textwrap.dedent(extra).strip() + "\n\n"
        for alias, values in self.models.items():
            text += f"[models.{alias}]\n"
            for key, value in values.items():
                if value is not None:
                    text += f"{key} = {json.dumps(value)}\n"
            text += "\n"
        path = self.path / "deltajudge.toml"
        path.write_text(text, encoding="utf-8")
        return path

    # -- runs ----------------------------------------------------------------------------

    def run(self, *args: str) -> pytest.RunResult:
        """In-process pytest run (fast: the heavy imports are already done)."""
        return self.pytester.runpytest(*QUIET_PLUGINS, "--dj-no-progress", *args)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            *QUIET_PLUGINS, "--dj-no-progress", *args, timeout=60
        )

    # -- what happened -------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.path / "reports" / "latest" / "report.json").read_text(encoding="utf-8")
        )
        return data

    def rubric_report(self, name: str = "demo") -> dict[str, Any]:
        return next(r for r in self.report()["rubrics"] if r["name"] == name)

    def cache_rows(self) -> dict[str, int]:
        path = self.path / ".deltajudge" / "cache.sqlite3"
        with sqlite3.connect(path) as db:
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("generations", "judgments")
            }

    def requests(self, *, judge: bool | None = None) -> list[RecordedRequest]:
        return [r for r in self.server.requests if judge is None or r.judge == judge]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as started:
        yield started


@pytest.fixture
def project(pytester: pytest.Pytester, server: ScriptedServer) -> Project:
    return Project(pytester, server)


def scores_by_marker(markers: Mapping[str, float]) -> list[Rule]:
    """Judge rules: an answer containing the marker gets that score (reasoning names it)."""
    return [
        Rule(judge=True, contains=marker, reply=judge_json(score, f"saw {marker}"))
        for marker, score in markers.items()
    ]


# -- reading item outcomes; scores per case (judging, gates, baselines and CLI tests) -------


def item_reports(result: pytest.RunResult) -> dict[str, pytest.TestReport]:
    """Each item's report, keyed by its name (what follows the last ``::``): the call
    phase, or the setup phase when that failed. In-process runs only (pytester keeps
    their hook recorder on the result)."""
    reports: dict[str, pytest.TestReport] = {}
    recorder = result.reprec  # type: ignore[attr-defined]
    for report in recorder.getreports("pytest_runtest_logreport"):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            reports[report.nodeid.rsplit("::", 1)[-1]] = report
    return reports


def item_outcomes(result: pytest.RunResult) -> dict[str, str]:
    return {name: report.outcome for name, report in item_reports(result).items()}


def case_score_rules(prompts: Mapping[str, str], **scores: Sequence[float]) -> list[Rule]:
    """Judge rules scoring each alias's default answer per case: ``base=[1, 2, 2]`` gives
    "[base-m] <first prompt>" a 1, and so on, in the order of ``prompts``."""
    return [
        Rule(judge=True, contains=f"[{alias}-m] {prompt}", reply=judge_json(score))
        for alias, values in scores.items()
        for prompt, score in zip(prompts.values(), values, strict=True)
    ]
