"""``deltajudge import openai-evals`` and ``deltajudge export openai-evals|rft-grader``.

Teams hold ``testing_criteria`` JSON whose hosted runner is gone: the import writes a
rubric, a data set and the model aliases so ``deltajudge run`` runs it unchanged; the
export gives the same JSON back for Azure's still-running ``/openai/v1/evals`` and the
grader object a reinforcement fine-tuning job takes. Notes on what is not exact go to
stderr and, for the import, into the rubric as comments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deltajudge.errors import ConfigError, DatasetError

#: Item fields that hold the prompt, in the order they are tried.
PROMPT_FIELDS = ("messages", "input", "prompt", "question")


def import_arguments(imp: argparse.ArgumentParser) -> None:
    kinds = imp.add_subparsers(dest="format", required=True)
    evals = kinds.add_parser("openai-evals", help="evals.create JSON or a pasted Python dict")
    evals.add_argument(
        "definition", type=Path, metavar="EVAL.json", help="the evals.create body or pasted dict"
    )
    evals.add_argument("--items", type=Path, metavar="ITEMS.jsonl", help="the eval's items")
    evals.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="project folder (default: here)"
    )
    evals.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ALIAS=MODEL",
        help="a model under test (default aliases: base, candidate)",
    )
    evals.add_argument("--prompt-field", metavar="FIELD", help="the item field to ask")
    evals.set_defaults(handler=run_import)


def export_arguments(exp: argparse.ArgumentParser) -> None:
    targets = exp.add_subparsers(dest="format", required=True)
    for name, text in (
        ("openai-evals", "the evals.create body (Azure /openai/v1/evals)"),
        ("rft-grader", "the grader of a reinforcement fine-tuning job"),
    ):
        target = targets.add_parser(name, help=text)
        target.add_argument("rubric", type=Path, help="the rubric file to export")
        target.add_argument("--config", type=Path, metavar="FILE", help="where aliases live")
        target.add_argument("--out", type=Path, metavar="FILE", help="default: stdout")
        if name == "rft-grader":
            target.add_argument("--grader", metavar="NAME", help="export only this grader")
        target.set_defaults(handler=run_export)


# -- import ---------------------------------------------------------------------------------


def run_import(ns: argparse.Namespace) -> int:
    from deltajudge.judging.evals_import import alias_for, import_eval, required_item_fields
    from deltajudge.judging.evals_source import read_definition

    definition = read_definition(ns.definition)
    slug = alias_for(str(definition.get("name") or ns.definition.stem)).lower()
    tested = dict(_assignment(m) for m in ns.model) or {"base": "", "candidate": ""}
    imported = import_eval(
        definition,
        dataset=f"../data/{slug}.jsonl",
        models=list(tested),
        fallback_name=ns.definition.stem,
    )
    out: Path = ns.out
    rubric_path = out / "rubrics" / f"{slug}.yaml"
    data_path = out / "data" / f"{slug}.jsonl"
    rubric_path.parent.mkdir(parents=True, exist_ok=True)
    rubric_path.write_text(rubric_yaml(imported.rubric, imported.notes), encoding="utf-8")
    print(f"wrote {rubric_path}")
    if ns.items is not None:
        rows = items_to_rows(ns.items, required_item_fields(definition), ns.prompt_field)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        data_path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"wrote {data_path} ({len(rows)} items)")
    else:
        print(f"no --items: put the eval's items in {data_path} (one JSON object a line)")
    _write_config(out, {**imported.aliases, **tested})
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    if not all(tested.values()):
        print(
            "set the models under test: deltajudge run --model base=MODEL_ID "
            "--model candidate=MODEL_ID (or in deltajudge.toml)"
        )
    return 0


def _assignment(text: str) -> tuple[str, str]:
    alias, sep, model = text.partition("=")
    if not sep or not alias or not model:
        raise ConfigError(f"--model expects ALIAS=MODEL (got {text!r})")
    return alias, model


def rubric_yaml(
    rubric: dict[str, Any], notes: list[str], origin: str = "`deltajudge import openai-evals`"
) -> str:
    """The rubric as people write it: multi-line prompts as ``|`` blocks, notes on top."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, block)
    header = [f"# Imported from an OpenAI Evals definition by {origin}."]
    if notes:
        header.append("# Not reproduced exactly:")
        header += [f"#  - {note}" for note in notes]
    body = yaml.dump(rubric, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body


def _write_config(out: Path, models: dict[str, str]) -> None:
    """Aliases for literal model ids; an existing config is never overwritten."""
    lines = []
    for alias, model in models.items():
        if model:
            lines += [f"[models.{alias}]", f"model = {json.dumps(model)}", ""]
        else:  # a table without `model` would not load: leave it for the user to fill in
            lines += [f"# [models.{alias}]", '# model = "..."', ""]
    text = "\n".join(lines)
    path = out / "deltajudge.toml"
    if path.exists():
        print(f"{path} exists and was left alone; add these aliases to it:\n{text}")
        return
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def items_to_rows(
    path: Path, required: list[str], prompt_field: str | None
) -> list[dict[str, Any]]:
    """Eval items as data-set rows: every field kept (``item.*`` means what it meant), and
    ``messages`` added when the prompt is a message list under another name."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError("items file not found", path=path) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg}", path=path, line=number) from None
        item = raw.get("item", raw) if isinstance(raw, dict) else raw
        if not isinstance(item, dict):
            raise DatasetError("expected a JSON object per line", path=path, line=number)
        missing = [name for name in required if name not in item]
        if missing:
            raise DatasetError(
                f"item lacks {', '.join(missing)}, required by data_source_config.item_schema",
                path=path,
                line=number,
            )
        rows.append(_row(item, prompt_field, path, number))
    if not rows:
        raise DatasetError("items file is empty", path=path)
    return rows


def _row(item: dict[str, Any], field: str | None, path: Path, number: int) -> dict[str, Any]:
    for name in (field,) if field else PROMPT_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return item if name in ("input", "prompt") else {**item, "prompt": value}
        if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
            return item if name == "messages" else {**item, "messages": value}
        if isinstance(value, dict) and isinstance(value.get("messages"), list):
            return {**item, "messages": value["messages"]}
    tried = ", ".join((field,) if field else PROMPT_FIELDS)
    raise DatasetError(
        f"cannot tell which field is the prompt (tried {tried})",
        path=path,
        line=number,
        hint="pass --prompt-field FIELD",
    )


# -- export ---------------------------------------------------------------------------------


def run_export(ns: argparse.Namespace) -> int:
    from deltajudge.judging.evals_export import export_criteria, export_rft_grader, item_schema
    from deltajudge.judging.loading import load_rubric

    loaded = load_rubric(ns.rubric)
    configured = _model_ids(ns.rubric, ns.config)

    def model_id(alias: str) -> str:
        if alias not in configured:
            print(f"note: alias {alias!r} is not configured; exported as is", file=sys.stderr)
        return configured.get(alias, alias)

    if ns.format == "rft-grader":
        body, notes = export_rft_grader(loaded.rubric, model_id, ns.grader)
    else:
        criteria, notes = export_criteria(loaded.rubric, model_id)
        body = {
            "name": loaded.rubric.name,
            "data_source_config": {
                "type": "custom",
                "item_schema": item_schema([case.item for case in loaded.cases]),
                "include_sample_schema": True,
            },
            "testing_criteria": criteria,
        }
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if ns.out is None:
        sys.stdout.write(text)
    else:
        ns.out.write_text(text, encoding="utf-8")
        print(f"wrote {ns.out}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _model_ids(rubric: Path, config: Path | None) -> dict[str, str]:
    """Alias -> model id from the config nearest the rubric (or the one given)."""
    from deltajudge.settings import find_config_file, load_settings

    root = Path.cwd()
    if config is None:
        for folder in rubric.resolve().parents:
            if find_config_file(folder) is not None:
                root = folder
                break
    settings = load_settings(root, config_file=config)
    return {alias: model.model for alias, model in settings.models.items()}
