"""Recordings: a model's answers kept as a file, so a retiring fine-tune stays a baseline.

OpenAI shuts down gpt-4o/4.1 fine-tunes on 2027-01-14. ``deltajudge record`` asks the
fine-tune every prompt of a rubric now and writes one JSON line per answer: case id,
a hash of the input, the answer, the model id, its sampling parameters and when. Later
an alias with ``provider = "recorded"`` and ``path = "recordings/x.jsonl"`` answers
from that file and never calls an API, and the replacement is gated against it.

A recording answers only the prompts it holds: a case it lacks, or one whose prompt
changed since (its input hash differs), is a generation error on that case that names it,
never another case's answer.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from deltajudge.errors import ConfigError, GenerationError
from deltajudge.generation.request import CallResult, ModelRequest, Usage
from deltajudge.settings import ModelConfig

#: Written on every line, so a recording can be read (and merged) line by line.
FORMAT_VERSION = 1


def input_hash(messages: Sequence[dict[str, str]]) -> str:
    """What the model was asked, as a hash: a changed prompt must not get the old answer."""
    canonical = json.dumps(list(messages), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordedAnswer:
    case_id: str
    input_hash: str
    sample: int
    answer: str
    alias: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    usage: tuple[int, int] = (0, 0)
    recorded_at: str = ""
    rubric: str = ""
    format: int = FORMAT_VERSION

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class Replay(NamedTuple):
    """What replaying one recorded answer needs."""

    input_hash: str
    answer: str
    usage: tuple[int, int]
    sample: int


class Recording:
    """A recording file, indexed by case id (and, for requests with no case id, by input
    hash). Every line is checked when the file is loaded; memory then keeps only each
    answer's byte offset, and an answer is read back from the file when it is asked for:
    a run at 100,000 cases replays two recordings without holding their answers."""

    def __init__(self, path: Path, by_case: dict[str, tuple[int, ...]]) -> None:
        self.path = path
        #: Each case's answers (their lines' offsets) in sample order.
        self.by_case = by_case
        self._file = path.open("rb")  # kept open: the recording is read once per case
        self._by_hash: dict[str, list[Replay]] | None = None

    @property
    def by_hash(self) -> dict[str, list[Replay]]:
        """Answers by input hash, in sample order; built on first use (few callers lack a
        case id)."""
        if self._by_hash is None:
            every = [self._replay(o) for found in self.by_case.values() for o in found]
            self._by_hash = {}
            for replay in sorted(every, key=_sample):
                self._by_hash.setdefault(replay.input_hash, []).append(replay)
        return self._by_hash

    def _replay(self, offset: int) -> Replay:
        self._file.seek(offset)
        data = json.loads(self._file.readline())
        usage = data.get("usage", (0, 0))
        return Replay(data["input_hash"], data["answer"], (usage[0], usage[1]), data["sample"])

    @classmethod
    def load(cls, path: Path) -> Recording:
        found: dict[str, list[tuple[int, int]]] = {}  # case id -> (sample, offset)
        offset = 0
        try:
            with path.open("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        answer = _parse_line(line, path, number)
                        case_id = sys.intern(answer.case_id)  # shared by every recording
                        found.setdefault(case_id, []).append((answer.sample, offset))
                    offset += len(line)
        except FileNotFoundError:
            raise ConfigError(
                "recording not found",
                path=path,
                hint="make one with: deltajudge record ALIAS --rubric R --out PATH",
            ) from None
        # sorted by sample, a sample recorded twice in file order (the sort is stable)
        by_case = {c: tuple(o for _, o in sorted(places)) for c, places in found.items()}
        return cls(path, by_case)

    def answer(self, case_id: str, messages: Sequence[dict[str, str]], sample: int) -> Replay:
        """The recorded answer to this case, or `GenerationError` saying why there is none."""
        digest = input_hash(messages)
        if not case_id:
            recorded = self.by_hash.get(digest)
            if recorded is None:
                raise GenerationError(f"no answer to this prompt in the recording {self.path}")
            return recorded[sample % len(recorded)]
        places = self.by_case.get(case_id)
        if places is None:
            raise GenerationError(
                f"case {case_id!r} is not in the recording {self.path} "
                f"({len(self.by_case)} cases recorded)"
            )
        first = self._replay(places[0])
        if first.input_hash != digest:
            raise GenerationError(
                f"case {case_id!r}: its prompt changed since it was recorded in {self.path} "
                f"(input hash {first.input_hash[:12]} recorded, {digest[:12]} now)"
            )
        chosen = sample % len(places)
        return first if chosen == 0 else self._replay(places[chosen])


def _sample(replay: Replay) -> int:
    return replay.sample


def _parse_line(line: bytes, path: Path, number: int) -> RecordedAnswer:
    try:
        data = json.loads(line)
        data["usage"] = tuple(data.get("usage", (0, 0)))
        return RecordedAnswer(**data)
    except (ValueError, TypeError, AttributeError) as exc:  # bad JSON or UTF-8, wrong keys
        raise ConfigError(
            f"not a recording line ({exc})",
            path=path,
            line=number,
            hint="recordings are written by `deltajudge record`",
        ) from None


@lru_cache(maxsize=16)
def _load(path: str, mtime_ns: int) -> Recording:
    return Recording.load(Path(path))


def recording_for(config: ModelConfig) -> Recording:
    """The alias's recording, read once per file version."""
    assert config.path is not None
    path = Path(config.path)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return Recording.load(path)  # raises the error that names the path
    return _load(str(path), mtime)


def answer_from_recording(config: ModelConfig, request: ModelRequest) -> CallResult:
    """The `Caller`'s answer for a ``provider = "recorded"`` alias: no API, no cache."""
    answer = recording_for(config).answer(request.case_id, request.messages, request.sample_index)
    return CallResult(text=answer.answer, usage=Usage(*answer.usage), cached=True)
