"""`Case`: one row of a data set, the unit every stage of the pipeline talks about."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Case:
    """What a model is asked (``messages``) and what the data set says a good answer is.

    ``item`` is the raw row, so rubric templates can reach any field a user added; the
    messages share its strings. Slotted, like `Message`: a run holds every case at once,
    and at 100,000 cases a per-instance ``__dict__`` is tens of megabytes.
    """

    id: str
    messages: tuple[Message, ...]
    item: dict[str, Any] = field(compare=False, hash=False)
    reference: str | None = None
    rejected: str | None = None
    source: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)
    #: A multi-turn case's later user turns: each is sent after the model's answer to
    #: the one before, so the model sees its own answers, as in MT-Bench's second turn.
    followups: tuple[str, ...] = ()

    @property
    def prompt(self) -> str:
        """The last user turn: what a reader of the report wants to see first."""
        if self.followups:
            return self.followups[-1]
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.messages[-1].content if self.messages else ""

    @property
    def turns(self) -> tuple[str, ...]:
        """Every user turn the model answers, in order (one for a single-turn case)."""
        first = next((m.content for m in reversed(self.messages) if m.role == "user"), "")
        return (first, *self.followups)

    def conversation(self, answers: tuple[str, ...]) -> tuple[Message, ...]:
        """What the model is sent for turn ``len(answers) + 1``: the case's messages, then
        each earlier answer followed by the next user turn."""
        out = list(self.messages)
        for answer, turn in zip(answers, self.followups, strict=False):
            out += [Message("assistant", answer), Message("user", turn)]
        return tuple(out)


def content_text(content: Any) -> str:
    """Flatten OpenAI message content (a string or a list of typed parts) to text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "".join(parts)
    return "" if content is None else str(content)


#: A generated id is the prompt's first words, at most this many characters.
ID_CHARS = 40


def stable_id(messages: tuple[Message, ...]) -> str:
    """An id a person recognises in ``-k``, diffs and failures: a slug of the last user
    turn (``my-order-arrived-damaged-what-can-i-do``), stable while the prompt is. The
    data set loader appends the line number when two prompts start alike."""
    prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
    words: list[str] = re.findall(r"\w+", prompt.lower())
    slug = ""
    for word in words:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > ID_CHARS:
            break
        slug = longer
    if slug:
        return slug
    if words:
        return words[0][:ID_CHARS]
    canonical = json.dumps([m.as_dict() for m in messages], sort_keys=True, ensure_ascii=False)
    return "case-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
