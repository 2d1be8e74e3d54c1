"""One rubric as evaluation judge and as training reward.

`from_rubric` turns a rubric's grader into a reward function with the signature TRL's
``GRPOTrainer`` calls: ``reward(prompts=..., completions=..., **dataset_columns)`` ->
one float per completion. It runs the very grader code ``deltajudge run`` uses
(string_check, text_similarity, python, score_model against any OpenAI-compatible judge,
multi), every completion of a batch at once within the judge's concurrency limit, and
through the same cache, so the reward a policy was trained on and the score it is
evaluated with cannot drift apart.

A completion the grader could not score gets ``None``, never a made-up number: TRL
treats ``None`` as "no reward from this function" for that completion.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from deltajudge.cases import Case, Message
from deltajudge.cases.case import content_text
from deltajudge.errors import ConfigError
from deltajudge.judging.grader_specs import GraderSpec, MultiGrader, PairwiseGrader
from deltajudge.judging.types import Grade, Sample
from deltajudge.settings import ModelConfig, Settings, find_config_file, load_settings

RewardFunction = Callable[..., list[float | None]]

#: Dataset columns read as the reference answer (``{{ reference }}`` in templates).
REFERENCE_COLUMNS = ("reference", "ideal", "answer", "solution")


def from_rubric(
    path: str | os.PathLike[str],
    grader: str | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
) -> RewardFunction:
    """A TRL-style reward function from the rubric at ``path``.

    ``grader`` names one of its graders; it may be left out when the rubric has one.
    Model aliases (the judge) come from ``config``, else the deltajudge.toml or
    pyproject.toml nearest the rubric.
    """
    from deltajudge.generation.models import resolve_models
    from deltajudge.judging.loading import load_rubric

    rubric_path = Path(path)
    loaded = load_rubric(rubric_path)
    spec = _pick(loaded.rubric.graders, grader, rubric_path)
    rootdir, settings = settings_near(rubric_path, config)
    subs = spec.graders.values() if isinstance(spec, MultiGrader) else [spec]
    aliases = {m for g in subs if (m := getattr(g, "model", None)) is not None}
    models = resolve_models(settings, aliases, os.environ)
    local = sorted(a for a, m in models.items() if m.provider == "local")
    if local:
        raise ConfigError(
            f"reward functions call their judge over HTTP; {', '.join(local)} would be the "
            "embedded model, which they do not start",
            hint="give the judge alias a base_url (vLLM, Ollama, llama.cpp's server) or a key",
        )

    def reward(
        prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        cases = [_case(prompts[i], _row(columns, i), i) for i in range(len(completions))]
        texts = [_completion_text(c) for c in completions]
        grades = _run(_grade_all(spec, models, settings, rootdir, cases, texts))
        return [g.score if g.ok else None for g in grades]

    reward.__name__ = f"{loaded.name}.{spec.name}".replace(" ", "_")  # TRL logs by name
    return reward


def _pick(graders: Sequence[GraderSpec], name: str | None, path: Path) -> GraderSpec:
    usable = [g for g in graders if not isinstance(g, PairwiseGrader)]
    names = ", ".join(g.name for g in usable)
    if name is not None:
        found = next((g for g in usable if g.name == name), None)
        if found is None:
            raise ConfigError(f"grader: no grader named {name!r} (graders: {names})", path=path)
        return found
    if len(usable) != 1:
        raise ConfigError(
            f"the rubric has {len(usable)} graders that score one answer; name one",
            path=path,
            hint=f"from_rubric(path, grader=...) with one of: {names}",
        )
    return usable[0]


def settings_near(rubric: Path, config: str | os.PathLike[str] | None) -> tuple[Path, Settings]:
    """The settings a command about one rubric uses: ``config``, else the config file
    nearest the rubric (its folder, then each parent), else the working directory's."""
    if config is not None:
        return Path.cwd(), load_settings(Path.cwd(), config_file=Path(config))
    for folder in rubric.resolve().parents:
        if find_config_file(folder) is not None:
            return folder, load_settings(folder)
    return Path.cwd(), load_settings(Path.cwd())


def _row(columns: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Row ``index`` of the dataset columns TRL passes as lists (scalars pass as they are)."""
    return {
        key: value[index] if isinstance(value, list | tuple) else value
        for key, value in columns.items()
        if key not in ("completion_ids", "trainer_state")
    }


def _case(prompt: Any, row: dict[str, Any], index: int) -> Case:
    """Plain prompts are one user turn; conversational ones are the messages themselves."""
    if isinstance(prompt, str):
        messages: tuple[Message, ...] = (Message("user", prompt),)
    else:
        messages = tuple(Message(m["role"], content_text(m.get("content"))) for m in prompt)
    reference = next((row[k] for k in REFERENCE_COLUMNS if isinstance(row.get(k), str)), None)
    return Case(
        id=str(index),
        messages=messages,
        item={"prompt": prompt, **row},
        reference=reference,
    )


def _completion_text(completion: Any) -> str:
    """A conversational completion is ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(completion, str):
        return completion
    return "".join(content_text(m.get("content")) for m in completion if isinstance(m, dict))


async def _grade_all(
    spec: GraderSpec,
    models: Mapping[str, ModelConfig],
    settings: Settings,
    rootdir: Path,
    cases: Sequence[Case],
    texts: Sequence[str],
) -> list[Grade]:
    """One batch: a fresh Caller per event loop (its clients belong to the loop), the
    shared SQLite cache underneath."""
    from deltajudge.generation.cache import ResponseCache
    from deltajudge.generation.caller import Caller
    from deltajudge.judging.graders import build_grader

    with contextlib.ExitStack() as cleanup:
        cache = ResponseCache(rootdir / settings.cache_dir) if settings.cache else None
        if cache is not None:
            cleanup.callback(cache.close)
        caller = Caller(models, settings, cache)
        try:
            grade = build_grader(spec, caller)
            samples = [Sample(alias="policy", output_text=text) for text in texts]
            return list(
                await asyncio.gather(*(grade(c, s) for c, s in zip(cases, samples, strict=True)))
            )
        finally:
            await caller.aclose()


def _run(coroutine: Coroutine[Any, Any, list[Grade]]) -> list[Grade]:
    """TRL calls reward functions synchronously; inside a running loop (a notebook), the
    batch runs on a thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
