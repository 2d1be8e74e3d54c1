"""pytest-xdist (``-n N``) through shards: each worker evaluates one shard, the controller
merges, and every case is evaluated (and paid for) exactly once.

xdist hands out *items*, not shards, so a worker is given items whose case another worker
evaluated. The protocol:

* the controller gives worker ``gwJ`` shard ``J+1`` of ``N`` (N = the worker count) and a
  run-scoped folder, through ``workerinput`` (`configure_node`);
* each worker evaluates its shard's cases before it runs any item, streaming them to
  ``<folder>/shard-K-of-N.jsonl`` (a worker whose run fails writes ``shard-K-of-N.failed``),
  with 1/N of the spending cap (``max_cost``), so ``-n`` never multiplies what is spent;
* a worker's first item waits (at most `wait_s`, naming the worker it waits for) until
  every shard has finished, then concludes the union exactly as ``deltajudge merge``
  does, so its case and gate items assert the same verdicts a run without ``-n`` would;
* the controller (no ``workerinput``) merges the same files at session end and writes
  the one set of reports; workers write none.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from deltajudge.pipeline import Evaluation
    from deltajudge.shards import Shard

#: How long a worker waits for the other workers' shards (``DELTAJUDGE_XDIST_WAIT_S``).
WAIT_S = 3600.0
_FOLDER = "dj_xdist_folder"
_MERGED = pytest.StashKey[str | None]()  # None: merged; a str: why it could not be
_CONTROLLER_FOLDER = pytest.StashKey[Path]()


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def wait_s() -> float:
    return float(os.environ.get("DELTAJUDGE_XDIST_WAIT_S", WAIT_S))


def run_folder(rootdir: Path, testrunuid: str) -> Path:
    return rootdir / ".deltajudge" / "xdist" / testrunuid


def configure_node(node: Any) -> None:
    """Controller: tell a worker where the run's shard files go (xdist's own hook)."""
    folder = run_folder(node.config.rootpath, node.workerinput["testrunuid"])
    node.workerinput[_FOLDER] = str(folder)
    node.config.stash[_CONTROLLER_FOLDER] = folder


def worker_shard(config: pytest.Config) -> tuple[Shard, Path]:
    """A worker's shard (``gw0`` is 1 of N) and the run folder."""
    from deltajudge.shards import Shard

    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    index = int(str(workerinput["workerid"]).removeprefix("gw")) + 1
    return Shard(index, int(workerinput["workercount"])), Path(workerinput[_FOLDER])


def shard_file(folder: Path, shard: Shard) -> Path:
    return folder / f"shard-{shard.index}-of-{shard.count}.jsonl"


def restrict(evaluation: Evaluation, config: pytest.Config) -> Path:
    """Worker: evaluate only this worker's shard of the selected cases; returns where its
    results go."""
    shard, folder = worker_shard(config)
    evaluation.shard = shard
    cap = evaluation.settings.max_cost
    if cap is not None:  # the workers share the cap: -n must not multiply what may be spent
        evaluation.settings = evaluation.settings.model_copy(update={"max_cost": cap / shard.count})
    for path, ids in evaluation.selected.items():
        name = evaluation.rubrics[path].name
        evaluation.selected[path] = [i for i in ids if shard.holds(name, i)]
    return shard_file(folder, shard)


def note_failure(config: pytest.Config, evaluation: Evaluation) -> None:
    """Worker: a run that failed says so at once, so the other workers stop waiting."""
    if evaluation.failure is not None:
        shard, folder = worker_shard(config)
        failed = shard_file(folder, shard).with_suffix(".failed")
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.write_text(str(evaluation.failure), encoding="utf-8")


def complete(config: pytest.Config, evaluation: Evaluation) -> str | None:
    """Worker, before its first item: wait for every shard, then conclude their union.
    Returns why that failed (each later item says the same), or None."""
    if _MERGED in config.stash:
        return config.stash[_MERGED]
    problem: str | None = None
    try:
        files = _wait_for_all(config)
        from deltajudge.errors import DeltajudgeError
        from deltajudge.shards import merged_agreements, merged_results

        try:
            results = merged_results(files, evaluation.rootdir, known=evaluation.rubrics)
            agreements = merged_agreements(files, evaluation.rootdir)
        except DeltajudgeError as exc:
            problem = f"deltajudge could not merge the xdist workers' shards: {exc}"
        else:
            evaluation.shard = None  # the union is the whole run: gates are decided here
            evaluation.conclude(results, agreements)
    except _WaitFailed as exc:
        problem = str(exc)
    config.stash[_MERGED] = problem
    return problem


class _WaitFailed(Exception):
    pass


def _wait_for_all(config: pytest.Config) -> list[Any]:
    from deltajudge.results_file import load_results
    from deltajudge.shards import Shard

    own, folder = worker_shard(config)
    deadline = time.monotonic() + wait_s()
    loaded = []
    for index in range(1, own.count + 1):
        path = shard_file(folder, Shard(index, own.count))
        while True:
            failed = path.with_suffix(".failed")
            if failed.is_file():
                raise _WaitFailed(
                    f"worker gw{index - 1} (shard {index}/{own.count}) could not run its "
                    f"cases: {failed.read_text(encoding='utf-8')}"
                )
            if path.is_file():
                found = load_results(path)
                if found.trailer is not None:
                    loaded.append(found)
                    break
            if time.monotonic() > deadline:
                raise _WaitFailed(
                    f"timed out after {wait_s():g} s waiting for worker gw{index - 1} "
                    f"(shard {index}/{own.count}) to finish its cases ({path})"
                    "\nHint: a worker crashed or is still running; rerun, or raise "
                    "DELTAJUDGE_XDIST_WAIT_S"
                )
            time.sleep(0.05)
    return loaded


def merge_on_controller(config: pytest.Config) -> Evaluation | None:
    """Controller, at session end: the workers' shards as one run, or None when no worker
    evaluated anything (no rubric files in this session)."""
    folder = config.stash.get(_CONTROLLER_FOLDER, None)
    if folder is None or not folder.is_dir():
        return None
    from deltajudge.errors import DeltajudgeError
    from deltajudge.pytest_plugin.session import evaluation_for
    from deltajudge.results_file import load_results
    from deltajudge.shards import merged_agreements, merged_collection_notes, merged_results

    evaluation = evaluation_for(config)
    try:
        failed = sorted(folder.glob("*.failed"))
        if failed:
            raise DeltajudgeError(failed[0].read_text(encoding="utf-8"))
        files = [load_results(p) for p in sorted(folder.glob("shard-*.jsonl"))]
        results = merged_results(files, evaluation.rootdir)
        evaluation.collection_notes = merged_collection_notes(files)
        evaluation.conclude(results, merged_agreements(files, evaluation.rootdir))
    except DeltajudgeError as exc:
        evaluation.failure = exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return evaluation
