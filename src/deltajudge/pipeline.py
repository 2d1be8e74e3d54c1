"""The only orchestrator: rubrics in, results, figures, gates and reports out.

The pytest plugin and the CLI are shells around one `Evaluation`: they tell it which
rubric files were collected and which cases pytest selected, ask it to run once, then
read outcomes. The single ``asyncio.run`` of a session is in `Evaluation.run`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from deltajudge.engine import Announce, Progress, StopWhen, execute, token_usage
from deltajudge.errors import ConfigError, DeltajudgeError
from deltajudge.figures_cache import figures_for
from deltajudge.gating.names import BASELINE_GATE
from deltajudge.gating.outcome import CaseVerdict, GateResult
from deltajudge.generation.models import resolve_models
from deltajudge.judging.gate_specs import PAIRED_METRICS, GateTest
from deltajudge.judging.loading import LoadedRubric
from deltajudge.reporting.model import Figures, Report, RubricEntry
from deltajudge.results import CaseResult, RubricRun, RunResults, TokenUsage
from deltajudge.settings import ModelConfig, Settings

if TYPE_CHECKING:
    from deltajudge.generation.batch_state import BatchOutcome
    from deltajudge.generation.cache import ResponseCache
    from deltajudge.generation.caller import Caller
    from deltajudge.judge_check import RunAgreements
    from deltajudge.results_writer import ResultsWriter
    from deltajudge.shards import Shard


@dataclass
class RubricOutcome:
    run: RubricRun
    figures: Figures
    gates: dict[str, GateResult]


@dataclass
class Evaluation:
    settings: Settings
    rootdir: Path
    rubrics: dict[Path, LoadedRubric] = field(default_factory=dict)
    selected: dict[Path, list[str]] = field(default_factory=dict)
    results: RunResults | None = None
    outcomes: dict[Path, RubricOutcome] = field(default_factory=dict)
    report: Report | None = None
    failure: DeltajudgeError | None = None
    #: Some collected cases were deselected (``-k``, ``--dj-limit``): not a full run.
    partial: bool = False
    #: The run stopped scheduling cases early (``-x``/``--maxfail``): some have no result.
    stopped: bool = False
    #: ``--collect-only``: nothing will be called, so API keys are not required.
    dry: bool = False
    #: How to add a missing alias, in the user's config and command spelling.
    alias_hint: Callable[[str], str] | None = None
    #: ``--dj-shard K/N``: this run evaluates one shard; its gates are decided by
    #: ``deltajudge merge`` over all shards, and it never becomes the baseline.
    shard: Shard | None = None
    #: What collection found that the report must say too (leaked evaluation prompts).
    collection_notes: list[str] = field(default_factory=list)
    #: ``judge_agreement`` gates: the judge against their labels, per rubric file.
    agreements: RunAgreements = field(default_factory=dict)

    def add(self, loaded: LoadedRubric) -> None:
        self.rubrics[loaded.path] = loaded

    def models_for(self, loaded: LoadedRubric) -> dict[str, ModelConfig]:
        """Resolve this rubric's aliases now, so a missing key fails at collection."""
        aliases = loaded.rubric.aliases()
        try:
            return resolve_models(
                self.settings,
                aliases,
                os.environ,
                need_keys=not self.dry,
                alias_hint=self.alias_hint,
            )
        except ConfigError as exc:
            if exc.path is not None:
                raise
            from deltajudge.judging.alias_positions import alias_position

            alias = re.match(r"model alias '([^']+)'", exc.message)
            line, column = alias_position(loaded.path, alias.group(1)) if alias else (None, None)
            raise ConfigError(
                exc.message, path=loaded.path, line=line, column=column, hint=exc.hint
            ) from None

    def check_files(self, loaded: LoadedRubric) -> str | None:
        """The files a rubric names besides its data set, checked at collection: the
        labels of ``judge_agreement`` gates, and the training files. Returns the leakage
        warning, kept for the report's notes (raises when the rubric or the run says
        ``leakage: fail``)."""
        from deltajudge.judge_check import check_agreement_gates
        from deltajudge.judging.training_data import check_leakage

        check_agreement_gates(loaded)
        found = check_leakage(loaded, self.settings, self.rootdir)
        if found is not None:
            self.collection_notes.append(found)
        return found

    def select(self, path: Path, case_ids: list[str]) -> None:
        self.selected[path] = case_ids

    @property
    def batch(self) -> BatchOutcome | None:
        """``--dj-batch``: why the run stopped before any verdict (submitted, pending)."""
        return self.results.batch if self.results is not None else None

    @property
    def has_work(self) -> bool:
        return any(self.selected.values())

    def run(
        self,
        progress: Progress | None = None,
        stop_when: StopWhen | None = None,
        announce: Announce | None = None,
        results_file: Path | None = None,
        conclude: bool = True,
    ) -> None:
        """Run every selected case once. A failure of the whole run is kept, not raised,
        so that each item can report it instead of one traceback for the session.
        ``results_file`` gets each case's raw results as it finishes (`results_file`).
        ``conclude=False``: results only (an xdist worker concludes the union later)."""
        runs = []
        aliases: set[str] = set()
        for path, ids in self.selected.items():
            loaded = self.rubrics[path]
            wanted = set(ids)
            runs.append(
                RubricRun(loaded=loaded, selected=[c for c in loaded.cases if c.id in wanted])
            )
            aliases |= loaded.rubric.aliases()
        writer = self._results_writer(runs, results_file) if results_file else None
        try:
            models = resolve_models(self.settings, aliases, os.environ)
            self.results, self.agreements = asyncio.run(
                self._execute(runs, models, progress, stop_when, announce)
            )
        except DeltajudgeError as exc:
            self.failure = exc
            return
        finally:
            if writer is not None and self.results is None:
                writer.close()  # results.jsonl.partial, no trailer: the run did not finish
        if self.results.batch is not None:  # batches submitted or pending: nothing to decide
            if writer is not None:
                writer.discard()  # the run finishes when its batches are collected
            return
        if writer is not None:
            writer.finish(self.results, self.agreements, tuple(self.collection_notes))
        evaluated = sum(len(run.cases) for run in self.results.rubrics)
        selected = sum(len(run.selected) for run in self.results.rubrics)
        if evaluated < selected and not self.results.interrupted:  # Ctrl-C: INCOMPLETE
            self.partial = self.stopped = True  # stopped early (-x): not a full run
        if conclude:
            self._conclude()

    def _results_writer(self, runs: list[RubricRun], path: Path) -> ResultsWriter:
        from deltajudge.results_writer import ResultsWriter, header_for

        shard = (self.shard.index, self.shard.count) if self.shard else None
        header = header_for(runs, self.rootdir, time.time(), shard)
        writer = ResultsWriter(path, header, self.rootdir)
        for run in runs:
            writer.spill(run)  # each finished case is written, and memory keeps its place
        return writer

    def conclude(self, results: RunResults, agreements: RunAgreements | None = None) -> None:
        """Statistics, gates and the report from results made elsewhere (``deltajudge
        merge``): the same path a run takes after its engine finishes."""
        self.results = results
        self.agreements = dict(agreements or {})
        for run in results.rubrics:
            self.rubrics[run.loaded.path] = run.loaded
            self.selected[run.loaded.path] = [c.id for c in run.selected]
        self.partial = any(len(run.selected) < len(run.loaded.cases) for run in results.rubrics)
        self._conclude()

    async def _execute(
        self,
        runs: list[RubricRun],
        models: dict[str, ModelConfig],
        progress: Progress | None,
        stop_when: StopWhen | None,
        announce: Announce | None,
    ) -> tuple[RunResults, RunAgreements]:
        """The cases, then the labelled pairs of ``judge_agreement`` gates (same models,
        settings and cache; skipped when the run was interrupted or only submitted or
        waited for batches, as nothing is decided then)."""
        results = await execute(
            runs, models, self.settings, self.rootdir, progress, stop_when, announce
        )
        wanted = [r.loaded for r in runs if any(g.labels for g in r.loaded.rubric.gates)]
        if not wanted or results.interrupted is not None or results.batch is not None:
            return results, {}
        from deltajudge.engine import open_caller
        from deltajudge.judge_check import judge_agreement_labels

        async with open_caller(models, self.settings, self.rootdir) as caller:
            agreements = await judge_agreement_labels(wanted, caller)
            _add_spend(results, caller)
        return results, agreements

    def _conclude(self) -> None:
        from deltajudge.gating.case_check import case_verdict
        from deltajudge.reporting.build import build_report, rubric_entry

        assert self.results is not None
        for run in self.results.rubrics:  # data-set order: figures do not depend on timing
            run.cases.ordered(run.selected)
        entries = []
        cache = self._figures_cache()
        try:
            for run in self.results.rubrics:
                figures = figures_for(run, cache, self.agreements.get(run.loaded.path, {}))
                gates = {g.name: g for g in figures.gates}
                self.outcomes[run.loaded.path] = RubricOutcome(run, figures, gates)
                rubric = run.loaded.rubric
                entries.append(rubric_entry(run, figures, partial(case_verdict, rubric=rubric)))
        finally:
            if cache is not None:
                cache.close()
        self._gate_on_baseline(entries)
        self.report = build_report(
            self.results,
            entries,
            offline=self.settings.offline,
            rootdir=self.rootdir,
            notes=self._notes(),
        )
        if self.shard is not None:
            self.report.shard = str(self.shard)

    def _gate_on_baseline(self, entries: list[RubricEntry]) -> None:
        """Add the ``baseline`` gate to each rubric when a baseline report is given."""
        if self.settings.baseline is None or self.shard is not None:
            return  # a shard's baseline gate is decided by `deltajudge merge`
        from deltajudge.gating.baseline import baseline_gate, baseline_tolerance  # deepdiff
        from deltajudge.reporting.compare import load_baseline

        old: Report | None = None
        problem = ""
        if self.settings.update_baseline and not self.accepts_baseline:
            problem = (
                "baseline not updated: this run evaluated only some of the cases "
                "(-k, deselection or --dj-limit), and a baseline must cover them all"
                "\nHint: rerun without the selection, or add --dj-force-baseline"
            )
        elif self.settings.update_baseline:
            problem = "baseline updated: this run is now the accepted one"
        else:
            try:
                old = load_baseline(self.rootdir / self.settings.baseline)
            except ConfigError as exc:
                problem = exc.render()
        for entry, outcome in zip(entries, self.outcomes.values(), strict=True):
            tolerance = baseline_tolerance(
                outcome.run.loaded.rubric, outcome.figures.noise, self.settings.baseline_tolerance
            )
            accepted = self.settings.update_baseline and self.accepts_baseline
            gate = baseline_gate(old, entry, tolerance, problem, accepted)
            outcome.gates[BASELINE_GATE] = gate
            entry.gates.append(gate)

    @property
    def accepts_baseline(self) -> bool:
        """A baseline is accepted from a full run only, unless the user forces it; never
        from a shard (its union with the other shards is, through ``deltajudge merge``)."""
        return self.shard is None and (not self.partial or self.settings.force_baseline)

    def _notes(self) -> list[str]:
        from deltajudge.run_notes import run_notes

        assert self.results is not None
        return run_notes(self.results, self.shard, self.collection_notes)

    def _figures_cache(self) -> ResponseCache | None:
        if not self.settings.cache:
            return None
        from deltajudge.generation.cache import ResponseCache

        return ResponseCache(self.rootdir / self.settings.cache_dir)

    def case_result(self, path: Path, case_id: str) -> CaseResult | None:
        outcome = self.outcomes.get(path)
        return outcome.run.cases.get(case_id) if outcome else None

    def case_verdict(self, path: Path, case_id: str) -> CaseVerdict | None:
        """The case's verdict as gating decides it (the one report.json holds)."""
        from deltajudge.gating.case_check import case_verdict

        outcome = self.outcomes.get(path)
        if outcome is None or case_id not in outcome.run.cases:
            return None
        return case_verdict(outcome.run.cases[case_id], outcome.run.loaded.rubric)

    def gate(self, path: Path, name: str) -> GateResult | None:
        outcome = self.outcomes.get(path)
        return outcome.gates.get(name) if outcome else None

    def worst_cases(self, path: Path, gate: GateResult) -> list[str]:
        """For a failed gate on a delta: the cases that scored furthest below the baseline."""
        outcome = self.outcomes.get(path)
        on_delta = gate.metric in PAIRED_METRICS or gate.metric in get_args(GateTest)
        if self.report is None or outcome is None or not on_delta:
            return []
        from deltajudge.reporting.worst_cases import worst_deltas

        name = outcome.run.loaded.name
        entry = next((r for r in self.report.rubrics if r.name == name), None)
        return worst_deltas(entry, gate.model, gate.grader) if entry is not None else []

    def write_reports(self, directory: Path) -> list[Path]:
        if self.report is None:
            return []
        from deltajudge.reporting.build import write_json, write_report_json

        paths = [write_json(self.report, directory)]
        if (
            self.settings.baseline is not None
            and self.settings.update_baseline
            and self.accepts_baseline
        ):
            paths.append(write_report_json(self.report, self.rootdir / self.settings.baseline))
        try:
            from deltajudge.reporting.html import write_html
            from deltajudge.reporting.markdown import write_markdown
        except ImportError:  # renderers land separately; report.json is the contract
            return paths
        paths.append(write_html(self.report, directory / "report.html"))
        url = self.settings.report_url
        paths.append(write_markdown(self.report, directory / "summary.md", report_url=url))
        return paths


def merge_shards(folders: list[Path], settings: Settings, rootdir: Path) -> Evaluation:
    """``deltajudge merge``: the shards' results as one run, concluded as a run is."""
    from deltajudge.results_file import load_results
    from deltajudge.shards import merged_agreements, merged_collection_notes, merged_results

    files = [load_results(f) for f in folders]
    results = merged_results(files, rootdir)
    evaluation = Evaluation(settings=settings, rootdir=rootdir)
    evaluation.collection_notes = merged_collection_notes(files)
    evaluation.conclude(results, merged_agreements(files, rootdir))
    return evaluation


def _add_spend(results: RunResults, caller: Caller) -> None:
    """The labelled pairs' calls count in the run's calls, tokens and cost like the cases'."""
    results.calls += caller.calls
    results.cache_hits += caller.cache_hits
    for alias, usage in token_usage(caller).items():
        if usage.calls or usage.cached_calls:
            results.tokens.setdefault(alias, TokenUsage()).add(usage)
