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
    """What a recording keeps of one answer: only what replaying it needs."""

    input_hash: str
    answer: str
    usage: tuple[int, int]
    sample: int


class Recording:
    """A recording file, indexed by case id (and, for requests with no case id, by input
    hash). Kept compact: a run at 100,000 cases holds two recordings' worth of answers, so
    each is a small tuple, not the parsed line."""

    def __init__(self, path: Path, answers: list[RecordedAnswer]) -> None:
        self.path = path
        by_case: dict[str, list[Replay]] = {}
        usages: dict[tuple[int, int], tuple[int, int]] = {}  # one tuple per distinct usage
        for a in answers:
            usage = usages.setdefault(a.usage, a.usage)
            # interned: each alias's recording holds the same case ids and prompt hashes
            replay = Replay(sys.intern(a.input_hash), a.answer, usage, a.sample)
            by_case.setdefault(sys.intern(a.case_id), []).append(replay)
        #: Each case's answers in sample order.
        self.by_case: dict[str, tuple[Replay, ...]] = {
            case_id: tuple(sorted(found, key=_sample)) for case_id, found in by_case.items()
        }
        self._by_hash: dict[str, list[Replay]] | None = None

    @property
    def by_hash(self) -> dict[str, list[Replay]]:
        """Answers by input hash, in sample order; built on first use (few callers lack a
        case id)."""
        if self._by_hash is None:
            every = [r for found in self.by_case.values() for r in found]
            self._by_hash = {}
            for replay in sorted(every, key=_sample):
                self._by_hash.setdefault(replay.input_hash, []).append(replay)
        return self._by_hash

    @classmethod
    def load(cls, path: Path) -> Recording:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ConfigError(
                "recording not found",
                path=path,
                hint="make one with: deltajudge record ALIAS --rubric R --out PATH",
            ) from None
        answers = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                answers.append(_parse_line(line, path, number))
        return cls(path, answers)

    def answer(self, case_id: str, messages: Sequence[dict[str, str]], sample: int) -> Replay:
        """The recorded answer to this case, or `GenerationError` saying why there is none."""
        digest = input_hash(messages)
        recorded: Sequence[Replay] | None
        if case_id:
            recorded = self.by_case.get(case_id)
            if recorded is None:
                raise GenerationError(
                    f"case {case_id!r} is not in the recording {self.path} "
                    f"({len(self.by_case)} cases recorded)"
                )
            if recorded[0].input_hash != digest:
                raise GenerationError(
                    f"case {case_id!r}: its prompt changed since it was recorded in {self.path} "
                    f"(input hash {recorded[0].input_hash[:12]} recorded, {digest[:12]} now)"
                )
        else:
            recorded = self.by_hash.get(digest)
            if recorded is None:
                raise GenerationError(f"no answer to this prompt in the recording {self.path}")
        return recorded[sample % len(recorded)]


def _sample(replay: Replay) -> int:
    return replay.sample


def _parse_line(line: str, path: Path, number: int) -> RecordedAnswer:
    try:
        data = json.loads(line)
        data["usage"] = tuple(data.get("usage", (0, 0)))
        return RecordedAnswer(**data)
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
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
