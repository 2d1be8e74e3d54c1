"""What a suite has sent to a Batch API: the small state file under the cache dir.

A batch lives for up to a day on the provider's side, far longer than one run, so the
run that submits it writes down what it sent (``<cache_dir>/batches/state.json``) and the
runs after it (``--dj-batch collect``, a plain rerun, ``deltajudge batch status``) read
it back. Only ids, counts and statuses are kept here; the downloaded result lines sit
beside it, one ``<batch id>.jsonl`` per batch, so the cache can be filled from them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from deltajudge.atomic import atomic_open
from deltajudge.errors import ConfigError

STATE_FILE = "state.json"
BATCH_DIR = "batches"

#: The statuses after which a batch changes no more (its files can be downloaded).
FINAL = ("completed", "failed", "expired", "cancelled")

#: The exit code of a run that submitted batches or waits for them (EX_TEMPFAIL: "try
#: again later"): CI can tell it from a pass (0), a failed gate (1) and a usage error.
BATCH_EXIT_CODE = 75


@dataclass
class BatchRecord:
    """One batch as submitted: where, for which alias, and how far it was when last seen."""

    id: str
    alias: str
    model: str
    url: str
    input_file_id: str
    #: ``answers``, ``judgments`` or both, joined by ``+``: the phase the batch serves.
    phase: str
    requests: int
    status: str = "validating"
    completed: int = 0
    failed: int = 0
    submitted_at: float = field(default_factory=time.time)
    #: The batch's own error (validation failed, expired), when the provider gave one.
    error: str | None = None
    #: True once its output and error files are downloaded beside the state file.
    downloaded: bool = False


@dataclass
class BatchState:
    """Every batch of one cache dir, oldest first."""

    path: Path
    batches: list[BatchRecord] = field(default_factory=list)

    @classmethod
    def load(cls, cache_dir: Path) -> BatchState:
        path = cache_dir / BATCH_DIR / STATE_FILE
        if not path.is_file():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, [BatchRecord(**entry) for entry in raw["batches"]])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: not a deltajudge batch state file ({exc})",
                hint="delete it to forget the batches it lists (their answers are lost)",
            ) from None

    def save(self) -> None:
        data = {"batches": [asdict(record) for record in self.batches]}
        with atomic_open(self.path) as out:
            out.write(json.dumps(data, indent=2).encode("utf-8"))

    def results_path(self, record: BatchRecord) -> Path:
        return self.path.parent / f"{record.id}.jsonl"

    def open_batches(self) -> list[BatchRecord]:
        """Batches whose results have not been downloaded yet."""
        return [record for record in self.batches if not record.downloaded]

    def phase(self) -> str:
        """Where the suite is, in a few words, for ``deltajudge batch status``."""
        waiting = self.open_batches()
        if not self.batches:
            return "no batches submitted"
        if waiting:
            phases = sorted({r.phase for r in waiting})
            return f"waiting for {' and '.join(phases)} ({len(waiting)} batches not collected)"
        return f"all {len(self.batches)} batches collected (last phase: {self.batches[-1].phase})"


Kind = Literal["submitted", "pending", "waiting"]


@dataclass(frozen=True)
class BatchOutcome:
    """Why a batch run ended before any gate was decided, and what to run next."""

    kind: Kind
    headline: str
    lines: tuple[str, ...] = ()
    submitted: int = 0
    collected: int = 0
    batches: int = 0
    exit_code: int = BATCH_EXIT_CODE
