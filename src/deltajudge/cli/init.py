"""``deltajudge init``: a working suite in the current project from a few flags.

Writes ``deltajudge.toml`` (the three model aliases), ``rubrics/<name>.yaml`` (a 0–4
``score_model`` judge with CI gates) and, unless ``--data`` names the user's own set, a
small example data set; then prints the two commands that run it and gate CI with it.
It never overwrites a file unless told to (``--force``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from deltajudge.constants import DEFAULT_NOT_WORSE_MARGIN
from deltajudge.errors import ConfigError

#: Replaced by the user's held-out prompts; enough rows to see the pipeline work.
EXAMPLE_PROMPTS = (
    "My order arrived damaged. What can I do?",
    "How do I reset my password?",
    "Can I change the delivery address after ordering?",
    "Do you ship internationally, and how long does it take?",
    "I was charged twice for the same order.",
)

#: The score scale of the written grader, and so the not-worse margin in its points.
SCALE = (0, 4)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--name", default="quality", help="rubric name, also its file name (default: quality)")
    add("--baseline-model", default="gpt-4.1-mini", help="the model to beat (alias base)")
    add(
        "--candidate-model",
        required=True,
        help="the model under test, e.g. ft:gpt-4.1-mini:org::abc (alias candidate)",
    )
    add("--judge-model", default="gpt-4.1", help="the judge that scores answers (alias judge)")
    add("--base-url", help="an OpenAI-compatible endpoint for all three (then no key needed)")
    add("--system", help="system prompt for the baseline and the candidate")
    add("--criteria", default="helpful, correct, and polite", help="what the judge looks for")
    add("--data", type=Path, help="your JSONL data set (default: write 5 example prompts)")
    add("--dir", type=Path, default=Path("."), help="project folder (default: here)")
    add("--force", action="store_true", help="overwrite files that already exist")


def init_project(ns: argparse.Namespace) -> int:
    root: Path = ns.dir
    config, rubric = root / "deltajudge.toml", root / "rubrics" / f"{ns.name}.yaml"
    data = ns.data if ns.data is not None else root / "data" / f"{ns.name}.jsonl"
    written = [config, rubric] + ([] if ns.data is not None else [data])
    _check_inputs(ns, written)
    models = {"base": ns.baseline_model, "candidate": ns.candidate_model, "judge": ns.judge_model}
    texts = {
        config: _render(
            "deltajudge.toml.j2", models=models, base_url=ns.base_url, system=ns.system
        ),
        rubric: _render(
            "rubric.yaml.j2",
            name=ns.name,
            dataset=os.path.relpath(data.resolve(), rubric.parent.resolve()),
            criteria=ns.criteria,
            margin=f"{DEFAULT_NOT_WORSE_MARGIN * (SCALE[1] - SCALE[0]):g}",
        ),
    }
    if ns.data is None:
        texts[data] = "".join(json.dumps({"input": p}) + "\n" for p in EXAMPLE_PROMPTS)
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    print(_next_steps(ns, data))
    return 0


def _check_inputs(ns: argparse.Namespace, written: list[Path]) -> None:
    if not ns.name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(
            f"--name: expected letters, digits, '_' or '-' (got {ns.name!r})",
            hint="it becomes the file name rubrics/<name>.yaml",
        )
    if ns.data is not None:
        from deltajudge.cases import load_dataset

        load_dataset(ns.data)  # a bad row fails here, with its line, not at the first run
    existing = [str(p) for p in written if p.exists()]
    if existing and not ns.force:
        raise ConfigError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}",
            hint="pass --force to overwrite, or --name/--dir to write elsewhere",
        )


def _render(template: str, **values: object) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("deltajudge.cli", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(template).render(**values)


def _next_steps(ns: argparse.Namespace, data: Path) -> str:
    lines = ["", "Next:"]
    if ns.base_url is None:
        lines.append("  export OPENAI_API_KEY=...        # the aliases call api.openai.com")
    if ns.data is None:
        lines.append(f"  # replace the example prompts in {data} with your held-out test prompts")
    lines += [
        "  deltajudge run                   # evaluate: delta table, reports/latest/",
        "  deltajudge run --junitxml reports/junit.xml   # in CI: exit 1 when a gate fails",
    ]
    return "\n".join(lines)
