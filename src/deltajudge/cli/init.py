"""``deltajudge init``: a working suite in the current project from a few flags.

Writes ``deltajudge.toml`` (the model aliases), ``rubrics/<name>.yaml`` (a 0–4
``score_model`` judge with CI gates) and, unless ``--data`` names the user's own set, a
small example data set; then prints the two commands that run it and gate CI with it.
With ``--from-grader FILE`` (or ``-`` for a paste on stdin) the rubric's graders are an
OpenAI grader or ``testing_criteria`` JSON (or the notebook's Python dict), read by the
same importer as ``deltajudge import openai-evals``: a team whose hosted eval is gone
pastes what it kept. It never overwrites a file unless told to (``--force``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from deltajudge.constants import DEFAULT_NOT_WORSE_MARGIN
from deltajudge.errors import ConfigError

#: Replaced by the user's held-out prompts; enough rows to see the pipeline work.
#: Eight, not five: the `not worse` gate needs at least 6 cases that differ from the
#: margin (`gating.verdict.MIN_NONTIED`), so a suite of five could never pass, even with a
#: candidate identical to the base.
EXAMPLE_PROMPTS = (
    "My order arrived damaged. What can I do?",
    "How do I reset my password?",
    "Can I change the delivery address after ordering?",
    "Do you ship internationally, and how long does it take?",
    "I was charged twice for the same order.",
    "How do I return an item I no longer want?",
    "Can I cancel my subscription at any time?",
    "The discount code at checkout is not working.",
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
    add(
        "--from-grader",
        metavar="FILE|-",
        help="an OpenAI grader / testing_criteria JSON (or Python dict) as the rubric's "
        "graders; - reads a paste from stdin",
    )
    add("--data", type=Path, help="your JSONL data set (default: write 5 example prompts)")
    add("--dir", type=Path, default=Path("."), help="project folder (default: here)")
    add("--force", action="store_true", help="overwrite files that already exist")


def init_project(ns: argparse.Namespace) -> int:
    root: Path = ns.dir
    config, rubric = root / "deltajudge.toml", root / "rubrics" / f"{ns.name}.yaml"
    data = ns.data if ns.data is not None else root / "data" / f"{ns.name}.jsonl"
    written = [config, rubric] + ([] if ns.data is not None else [data])
    _check_inputs(ns, written)
    tested = {"base": ns.baseline_model, "candidate": ns.candidate_model}
    dataset = os.path.relpath(data.resolve(), rubric.parent.resolve())
    if ns.from_grader is not None:
        rubric_text, judges = _grader_rubric(ns, dataset)
    else:
        judges = {"judge": ns.judge_model}
        rubric_text = _render(
            "rubric.yaml.j2",
            name=ns.name,
            dataset=dataset,
            criteria=ns.criteria,
            margin=f"{DEFAULT_NOT_WORSE_MARGIN * (SCALE[1] - SCALE[0]):g}",
        )
    texts = {
        config: _render(
            "deltajudge.toml.j2",
            models={**tested, **judges},
            tested=list(tested),
            no_temperature=[a for a, m in {**tested, **judges}.items() if _reasoning(m)],
            base_url=ns.base_url,
            system=ns.system,
        ),
        rubric: rubric_text,
    }
    if ns.data is None:
        texts[data] = "".join(json.dumps({"input": p}) + "\n" for p in EXAMPLE_PROMPTS)
    for path, text in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if ns.data is not None:
        _warn_if_too_few(data)
    print(_next_steps(ns, data))
    return 0


def _warn_if_too_few(data: Path) -> None:
    """A data set too small for the written `not worse` gate fails CI whatever the models
    do; say so now rather than on the first run."""
    from deltajudge.gating.verdict import MIN_NONTIED

    rows = sum(1 for line in data.read_text(encoding="utf-8-sig").splitlines() if line.strip())
    if rows < MIN_NONTIED:
        print(
            f"note: {data} has {rows} row(s): the `not worse` gate needs at least "
            f"{MIN_NONTIED} cases, so it fails until the data set has more",
            file=sys.stderr,
        )


def _grader_rubric(ns: argparse.Namespace, dataset: str) -> tuple[str, dict[str, str]]:
    """The rubric file for a pasted grader, and the judge aliases it needs (alias -> id).

    Gates: for a grader with a numeric ``range``, the same non-inferiority gate as the
    flag-made rubric (margin in that grader's points); otherwise the default gates apply
    (not worse, no errors), as for any rubric without ``gates:``."""
    from deltajudge.cli.evals_io import rubric_yaml
    from deltajudge.judging.evals_import import import_eval

    definition = _read_grader(ns.from_grader)
    imported = import_eval(
        definition, dataset=dataset, models=["base", "candidate"], fallback_name=ns.name
    )
    body: dict[str, Any] = {"name": ns.name}
    if definition.get("name"):
        body["description"] = f"imported from {definition['name']}"
    body |= {k: v for k, v in imported.rubric.items() if k != "name"}
    scored = [(g["name"], scale) for g in body["graders"] if (scale := _scale(g)) is not None]
    if scored:
        grader, (low, high) = scored[0]
        margin = round(DEFAULT_NOT_WORSE_MARGIN * (high - low), 6)
        body["gates"] = [
            {"name": "not worse", "test": "noninferior", "grader": grader, "margin": margin},
            {"name": "no errors", "metric": "errors", "grader": grader, "max": 0},
        ]
    text = rubric_yaml(body, imported.notes, origin="`deltajudge init --from-grader`")
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    return text, imported.aliases


def _scale(grader: dict[str, Any]) -> tuple[float, float] | None:
    value = grader.get("range")
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def _read_grader(source: str) -> dict[str, Any]:
    """The definition from a file, or from stdin for ``-`` (errors then name ``<stdin>``)."""
    from deltajudge.judging.evals_source import parse_definition, read_definition

    if source != "-":
        return read_definition(Path(source))
    return parse_definition(sys.stdin.read(), "<stdin>")


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


#: OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 and their fine-tunes) answer a
#: request that sets `temperature` with HTTP 400 "Unsupported parameter".
_REASONING_MODEL = re.compile(r"^(ft:)?(o\d|gpt-5)")


def _reasoning(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model))


def _next_steps(ns: argparse.Namespace, data: Path) -> str:
    lines = ["", "Next:"]
    if ns.base_url is None:
        lines.append("  export OPENAI_API_KEY=...        # the aliases call api.openai.com")
    if ns.data is None:
        lines.append(f"  # replace the example prompts in {data} with your held-out test prompts")
    if Path(ns.dir).resolve() != Path.cwd().resolve():  # `run` finds the project from here
        lines.append(f"  cd {shlex.quote(str(ns.dir))}")
    lines += [
        "  deltajudge run                   # evaluate: delta table, reports/latest/",
        "  deltajudge run --junitxml reports/junit.xml   # in CI: exit 1 when a gate fails",
    ]
    return "\n".join(lines)
