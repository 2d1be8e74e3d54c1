"""Batch API runs (``--dj-batch submit|collect``): the same requests at half the price.

The hook is the Caller's cache miss. A run in batch mode asks `BatchRuns.answer` instead
of the endpoint: a request whose result line was downloaded is answered from it (and
then cached, as a direct answer would be); any other request is written into a batch
input file (``submit``) or counted as not batched yet (``collect``), and its case waits.
Judge requests need the answers, so a suite with model graders takes two rounds:
submit the answers, collect them, submit the judgments, collect them; the run that
collects the last batch completes from the cache like any other run.

Local and recorded aliases are never batched: they are free, and run directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from deltajudge.errors import CallError, ConfigError
from deltajudge.generation.batch_lines import (
    BatchLine,
    ResultLine,
    custom_id,
    read_results,
    split,
)
from deltajudge.generation.batch_state import FINAL, BatchOutcome, BatchRecord, BatchState
from deltajudge.generation.request import CallResult, answerer
from deltajudge.settings import ModelConfig, Settings

if TYPE_CHECKING:
    import openai

_T = TypeVar("_T")
Mode = Literal["submit", "collect"]
#: An alias's SDK client (the Caller's own, with its base_url, key and Azure set-up).
ClientFor = Callable[[str], Awaitable["openai.AsyncOpenAI"]]


class BatchPending(CallError):
    """The request's answer is in a batch (or will be): its case waits for a later run."""


def batchable(config: ModelConfig) -> bool:
    """Local servers and recordings answer for free and at once: they are never batched."""
    return config.provider not in ("local", "recorded")


def open_batch_runs(
    settings: Settings, rootdir: Path, models: Mapping[str, ModelConfig]
) -> BatchRuns | None:
    """The run's batch mode: the one asked for, or ``collect`` when earlier batches are
    not collected yet (a plain rerun picks them up instead of paying for the calls)."""
    if settings.offline or not settings.cache:
        if settings.batch is not None:
            raise ConfigError(
                f"--dj-batch {settings.batch} needs the answer cache: batched answers "
                "reach the run through it",
                hint="drop --dj-no-cache / --dj-offline",
            )
        return None
    state = BatchState.load(rootdir / settings.cache_dir)
    mode: Mode | None = settings.batch or ("collect" if state.open_batches() else None)
    if mode is None:
        return None
    for alias, config in models.items():
        if batchable(config) and _azure_fine_tune(config):
            raise ConfigError(
                f"model alias '{alias}' ({config.model}): Azure OpenAI cannot batch "
                "fine-tuned deployments (global batch serves base models only)",
                hint=f"run without --dj-batch, or make '{alias}' a base-model global "
                "batch deployment",
            )
    return BatchRuns(mode, state, dict(models), settings)


def _azure_fine_tune(config: ModelConfig) -> bool:
    """Azure names fine-tuned models ``ft:...`` (v1) or ``<base>.ft-<id>``."""
    return config.provider == "azure" and (config.model.startswith("ft:") or ".ft-" in config.model)


@dataclass
class _Tally:
    submitted: int = 0
    collected: int = 0
    failed: int = 0
    unbatched: set[str] = field(default_factory=set)


class BatchRuns:
    """One run's side of the Batch API: results downloaded before the run, lines
    gathered during it, batches created after it."""

    def __init__(
        self, mode: Mode, state: BatchState, models: dict[str, ModelConfig], settings: Settings
    ) -> None:
        self.mode = mode
        self.state = state
        self._models = models
        self._max_requests = settings.batch_max_requests
        self._max_bytes = settings.batch_max_bytes
        self._results: dict[str, ResultLine] = {}
        self._lines: dict[str, BatchLine] = {}
        self._tally = _Tally()
        self._waiting: list[BatchRecord] = []

    # -- before the run: poll and download ------------------------------------------------

    async def collect(self, client_for: ClientFor) -> bool:
        """Poll every batch not collected yet and download the finished ones; False when
        one is still running (the run then waits: nothing is submitted twice)."""
        for record in self.state.open_batches():
            if record.alias not in self._models:
                continue  # another rubric's alias: its answers are not this run's to wait for
            await self._poll(record, await client_for(record.alias))
        self.state.save()
        for record in self.state.batches:
            path = self.state.results_path(record)
            if record.downloaded and path.is_file():
                self._results.update(read_results(record.id, path.read_text(encoding="utf-8")))
        return not self._waiting

    async def _poll(self, record: BatchRecord, client: openai.AsyncOpenAI) -> None:
        import openai

        try:
            batch = await client.batches.retrieve(record.id)
        except openai.NotFoundError:  # another account or server, or deleted: nothing to wait for
            record.status, record.downloaded = "not found", True
            record.error = "the provider does not know this batch; its requests are batched again"
            return
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            raise _batch_api_error(exc) from exc
        record.status = batch.status
        if batch.request_counts is not None:
            record.completed = batch.request_counts.completed
            record.failed = batch.request_counts.failed
        if batch.errors is not None and batch.errors.data:
            record.error = "; ".join(e.message or e.code or "" for e in batch.errors.data)
        if batch.status not in FINAL:
            self._waiting.append(record)
            return
        parts = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await _sdk(client.files.content(file_id))
                parts.append(content.text.rstrip("\n") + "\n")
        path = self.state.results_path(record)
        path.write_text("".join(parts), encoding="utf-8")
        record.downloaded = True

    # -- during the run: the Caller's cache miss -------------------------------------------

    def takes(self, alias: str) -> bool:
        return batchable(self._models[alias])

    def answer(
        self, alias: str, key: str, api: str, payload: dict[str, Any], phase: str
    ) -> CallResult:
        """A downloaded answer, or `BatchPending` once the request is put in (or left
        for) a batch. A failed line is a `CallError` with its reason (a case error);
        ``submit`` sends it again instead."""
        cid = custom_id(key)
        found = self._results.get(cid)
        if found is not None and (found.body is not None or self.mode == "collect"):
            if found.body is None:
                self._tally.failed += 1
                raise CallError(str(found.error))
            from deltajudge.generation.sdk import batch_result

            self._tally.collected += 1
            return batch_result(self._models[alias], api, found.body)
        if self.mode == "collect":
            self._tally.unbatched.add(cid)
            raise BatchPending(f"not in any batch yet: rerun with --dj-batch submit ({phase})")
        if cid not in self._lines:
            from deltajudge.generation.sdk import BATCH_URLS, batch_body

            body = batch_body(self._models[alias], payload)
            self._lines[cid] = BatchLine(cid, alias, BATCH_URLS[api], body, phase)
        raise BatchPending("submitted in a batch: rerun with --dj-batch collect")

    # -- after the run: create the batches, say where the suite is -------------------------

    async def finish(self, client_for: ClientFor) -> BatchOutcome | None:
        """What the run ends with; None when every answer was there (a normal run)."""
        if self._waiting:
            return self._pending()
        if self._lines:
            created = await self._submit(client_for)
            return BatchOutcome(
                "submitted",
                f"submitted {len(self._lines)} requests in {len(created)} batches; "
                "rerun with --dj-batch collect",
                tuple(_describe(r) for r in created),
                submitted=len(self._lines),
                collected=self._tally.collected,
                batches=len(created),
            )
        if self._tally.unbatched:
            count = len(self._tally.unbatched)
            return BatchOutcome(
                "waiting",
                f"collected {self._tally.collected} answers; {count} requests are not in a "
                "batch yet (judge requests need the answers first): rerun with "
                "--dj-batch submit",
                collected=self._tally.collected,
            )
        return None

    def _pending(self) -> BatchOutcome:
        lines = tuple(_describe(r) for r in self._waiting)
        return BatchOutcome(
            "pending",
            f"pending: {len(self._waiting)} batches still running; rerun with "
            "--dj-batch collect later",
            lines,
            batches=len(self._waiting),
        )

    async def _submit(self, client_for: ClientFor) -> list[BatchRecord]:
        groups: dict[tuple[str, str, str], list[BatchLine]] = {}
        for line in self._lines.values():
            config = self._models[line.alias]
            groups.setdefault((answerer(config), line.url, config.model), []).append(line)
        created: list[BatchRecord] = []
        for (_where, url, model), lines in groups.items():
            alias = lines[0].alias
            client = await client_for(alias)
            # Azure global batch (v1 API) names the path without /v1; OpenAI and vLLM with it.
            wire_url = url.removeprefix("/v1") if self._models[alias].provider == "azure" else url
            for chunk, data in split(lines, wire_url, self._max_requests, self._max_bytes):
                name = f"deltajudge-{alias}-{len(self.state.batches) + 1}.jsonl"
                uploaded = await _sdk(client.files.create(file=(name, data), purpose="batch"))
                batch = await _sdk(
                    client.batches.create(
                        input_file_id=uploaded.id,
                        endpoint=cast(Any, wire_url),
                        completion_window="24h",
                        metadata={"created_by": "deltajudge"},
                    )
                )
                phases = "+".join(sorted({line.phase for line in chunk}))
                record = BatchRecord(
                    batch.id, alias, model, wire_url, uploaded.id, phases, len(chunk), batch.status
                )
                self.state.batches.append(record)
                self.state.save()  # each batch is written down as soon as it exists
                created.append(record)
        return created


def _describe(record: BatchRecord) -> str:
    counts = f"{record.completed} completed, {record.failed} failed of {record.requests}"
    error = f" ({record.error})" if record.error else ""
    where = f"{record.alias} ({record.model}), {record.phase}"
    return f"{record.id}: {where}, {record.status}: {counts}{error}"


async def _sdk(call: Awaitable[_T]) -> _T:
    """A Files/Batches call; its failure is the run's failure, worded like a call's."""
    import openai

    try:
        return await call
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        raise _batch_api_error(exc) from exc


def _batch_api_error(exc: openai.APIStatusError | openai.APIConnectionError) -> CallError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return CallError(f"Batch API: HTTP {exc.status_code}: {exc.message}", fatal=True)
    return CallError(f"Batch API: cannot connect: {exc}", fatal=True)
