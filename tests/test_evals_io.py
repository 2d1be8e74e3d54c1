"""OpenAI Evals definitions in and out: ``deltajudge import openai-evals`` writes a rubric,
a data set and aliases that run unchanged; ``export openai-evals|rft-grader`` gives the
JSON back; export then import gives the same rubric."""

from __future__ import annotations

import json
import pprint
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import Project, judge_json
from deltajudge.cli import main
from deltajudge.errors import ConfigError
from deltajudge.generation.models import resolve_models
from deltajudge.judging.loading import load_rubric
from deltajudge.judging.rubric import Rubric
from deltajudge.settings import Settings
from deltajudge.testing import Rule

GOOD_VIBES_TEMPLATE = (
    "**User input**\n{{item.input}}\n**Response to evaluate**\n{{sample.output_text}}"
)

#: The DPO guide's Good Vibes eval, as `evals.create` took it: a 0-4 score_model, pass 2.
GOOD_VIBES: dict[str, Any] = {
    "name": "Good Vibes Eval",
    "data_source_config": {
        "type": "custom",
        "item_schema": {
            "type": "object",
            "properties": {"input": {"type": "string"}},
            "required": ["input"],
        },
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "score_model",
            "name": "Good Vibes Grader",
            "model": "o3-mini",
            "input": [
                {
                    "role": "system",
                    "content": "Score the support reply's tone from 0 (rude) to 4 "
                    "(highly enthusiastic and helpful).",
                },
                {"role": "user", "content": GOOD_VIBES_TEMPLATE},
            ],
            "range": [0, 4],
            "pass_threshold": 2,
        }
    ],
}

_REF = "{{item.reference}}"
#: One criterion of every type OpenAI's evals had, written by hand.
EVERY_TYPE: dict[str, Any] = {
    "name": "every grader type",
    "data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
    "testing_criteria": [
        GOOD_VIBES["testing_criteria"][0],
        {
            "type": "label_model",
            "name": "Is polite",
            "model": "gpt-4.1-mini",
            "input": [
                {"role": "developer", "content": [{"type": "input_text", "text": "Label it."}]},
                {"role": "user", "content": "{{sample.output_text}}"},
            ],
            "labels": ["polite", "rude"],
            "passing_labels": ["polite"],
        },
        {
            "type": "string_check",
            "name": "exact match",
            "input": "{{sample.output_text}}",
            "reference": _REF,
            "operation": "eq",
        },
        {
            "type": "text_similarity",
            "name": "close enough",
            "input": "{{sample.output_text}}",
            "reference": _REF,
            "evaluation_metric": "fuzzy_match",
            "pass_threshold": 0.8,
        },
        {
            "type": "text_similarity",
            "name": "same meaning",
            "input": "{{sample.output_text}}",
            "reference": _REF,
            "evaluation_metric": "cosine",
            "pass_threshold": 0.7,
        },
        {
            "type": "python",
            "name": "short",
            "source": "def grade(sample, item):\n"
            "    return float(len(sample['output_text']) < 50)\n",
            "pass_threshold": 1,
        },
        {
            "type": "multi",
            "name": "combined",
            "graders": {
                "exact": {
                    "type": "string_check",
                    "name": "exact",
                    "input": "{{sample.output_text}}",
                    "reference": _REF,
                    "operation": "ilike",
                },
                "close": {
                    "type": "text_similarity",
                    "name": "close",
                    "input": "{{sample.output_text}}",
                    "reference": _REF,
                    "evaluation_metric": "rouge_l",
                    "pass_threshold": 0.5,
                },
            },
            "calculate_output": "0.5 * exact + 0.5 * close",
        },
    ],
}

ITEMS = [
    {"item": {"input": "Where is my order?", "reference": "It ships today."}},
    {"item": {"input": "Can I get a refund?", "reference": "Yes, within 30 days."}},
]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _import(tmp_path: Path, definition: dict[str, Any] | str, out: str = "out") -> Path:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    source = _write(tmp_path / "defs" / f"{out}.json", text)
    items = _write(tmp_path / "items.jsonl", "".join(json.dumps(i) + "\n" for i in ITEMS))
    code = main(
        ["import", "openai-evals", str(source), "--items", str(items), "--out", str(tmp_path / out)]
    )
    assert code == 0
    (rubric,) = (tmp_path / out / "rubrics").glob("*.yaml")
    return rubric


def _export(rubric: Path, kind: str, *extra: str) -> dict[str, Any]:
    out = rubric.with_suffix(f".{kind}.json")
    assert main(["export", kind, str(rubric), "--out", str(out), *extra]) == 0
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def _without_message_type(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The export writes each message as ``{type: message, ...}``, which OpenAI also takes."""
    text = json.dumps(criteria).replace('"type": "message", ', "")
    data: list[dict[str, Any]] = json.loads(text)
    return data


@pytest.mark.parametrize("definition", [GOOD_VIBES, EVERY_TYPE], ids=["good-vibes", "every-type"])
def test_export_then_import_gives_the_same_rubric(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    first = _import(tmp_path, definition, "first")
    exported = _export(first, "openai-evals")
    second = _import(tmp_path, exported, "second")

    rubric_1, rubric_2 = load_rubric(first).rubric, load_rubric(second).rubric
    assert rubric_1 == rubric_2
    assert isinstance(rubric_1, Rubric) and rubric_1.name == definition["name"]
    # ... and the JSON that comes out is what went in (content parts flattened to text).
    expected = json.loads(
        json.dumps(definition["testing_criteria"]).replace(
            '[{"type": "input_text", "text": "Label it."}]', '"Label it."'
        )
    )
    assert _without_message_type(exported["testing_criteria"]) == expected


def test_import_writes_aliases_for_literal_model_ids_and_keeps_names_with_spaces(
    tmp_path: Path,
) -> None:
    rubric_path = _import(tmp_path, EVERY_TYPE)
    config = tomllib.loads((tmp_path / "out" / "deltajudge.toml").read_text(encoding="utf-8"))
    assert config["models"] == {
        "o3-mini": {"model": "o3-mini"},
        "gpt-4-1-mini": {"model": "gpt-4.1-mini"},
        "embeddings": {"model": "text-embedding-3-large"},
    }
    rubric = load_rubric(rubric_path).rubric
    assert [g.name for g in rubric.graders][:3] == ["Good Vibes Grader", "Is polite", "exact match"]
    assert rubric.judge_aliases() == {"o3-mini", "gpt-4-1-mini", "embeddings"}
    rows = [
        json.loads(line)
        for line in (tmp_path / "out" / "data")
        .glob("*.jsonl")
        .__next__()
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    assert rows == [item["item"] for item in ITEMS]  # item.* keeps its meaning


def test_what_is_not_exact_is_a_comment_in_the_rubric_and_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = json.loads(json.dumps(GOOD_VIBES))
    definition["testing_criteria"].append(
        {
            "type": "text_similarity",
            "name": "meteor-ish",
            "input": "{{sample.output_text}}",
            "reference": _REF,
            "evaluation_metric": "meteor",
            "pass_threshold": 0.5,
        }
    )
    definition["testing_criteria"].append(
        {
            "type": "python",
            "name": "py",
            "source": "def grade(s, i):\n    return 1\n",
            "image_tag": "2025-05-08",
        }
    )
    text = _import(tmp_path, definition).read_text(encoding="utf-8")
    err = capsys.readouterr().err
    for expected in (
        "meteor is not available; rouge_l is used instead",
        "`image_tag` has no deltajudge equivalent",
        "not OpenAI's sandbox",
    ):
        assert any(line.startswith("#") and expected in line for line in text.splitlines())
        assert expected in err


def test_the_python_dict_pasted_from_a_notebook_imports_like_the_json(tmp_path: Path) -> None:
    grader = GOOD_VIBES["testing_criteria"][0]
    pasted = (
        "from openai import OpenAI\nclient = OpenAI()\n\n"
        f"grader = {pprint.pformat(grader)}\n"
        "rows = [json.loads(line) for line in open('items.jsonl')]  # skipped: not a literal\n"
        "good_vibes_eval = client.evals.create(\n"
        f"    name={GOOD_VIBES['name']!r},\n"
        f"    data_source_config={pprint.pformat(GOOD_VIBES['data_source_config'])},\n"
        "    testing_criteria=[grader],\n)\n"
        "print(good_vibes_eval.id)\n"
    )
    assert "True" in pasted  # a Python literal, not JSON
    from_python = load_rubric(_import(tmp_path, pasted, "python")).rubric
    from_json = load_rubric(_import(tmp_path, GOOD_VIBES, "json")).rubric
    assert from_python == from_json
    # a bare grader dict, as often kept on its own
    alone = load_rubric(_import(tmp_path, f"grader = {pprint.pformat(grader)}\n", "alone"))
    assert alone.rubric.graders == from_json.graders


def test_a_pasted_definition_is_never_executed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    source = _write(
        tmp_path / "evil.py", f"criteria = [__import__('pathlib').Path({str(marker)!r}).touch()]\n"
    )
    assert main(["import", "openai-evals", str(source), "--out", str(tmp_path)]) == 2
    assert not marker.exists()
    assert "evil.py:1:12: line 1: not a literal" in capsys.readouterr().err


def test_items_missing_a_required_field_fail_with_path_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "gv.json", json.dumps(GOOD_VIBES))
    items = _write(
        tmp_path / "items.jsonl", '{"item": {"input": "hi"}}\n{"item": {"question": "x"}}\n'
    )
    assert (
        main(["import", "openai-evals", str(source), "--items", str(items), "--out", str(tmp_path)])
        == 2
    )
    assert "items.jsonl:2: item lacks input, required by data_source_config.item_schema" in (
        capsys.readouterr().err
    )


def test_rft_export_refuses_label_model_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rubric = _import(tmp_path, EVERY_TYPE)
    capsys.readouterr()
    assert main(["export", "rft-grader", str(rubric)]) == 2
    assert "'Is polite': label_model graders cannot be reinforcement fine-tuning graders" in (
        capsys.readouterr().err
    )


def test_rft_export_gives_one_grader_or_a_multi_keyed_by_name(tmp_path: Path) -> None:
    definition = json.loads(json.dumps(EVERY_TYPE))
    del definition["testing_criteria"][1]  # the label_model
    rubric = _import(tmp_path, definition)
    one = _export(rubric, "rft-grader", "--grader", "Good Vibes Grader")
    assert one["type"] == "score_model" and one["model"] == "o3-mini" and one["range"] == [0, 4]
    combined = _export(rubric, "rft-grader")
    assert combined["type"] == "multi"
    assert list(combined["graders"]) == [
        "Good_Vibes_Grader",
        "exact_match",
        "close_enough",
        "same_meaning",
        "short",
        "combined",
    ]
    assert combined["graders"]["combined"]["graders"]["exact"]["operation"] == "ilike"
    assert combined["calculate_output"].endswith("/ 6")


def test_a_function_grader_exports_with_its_module_inlined(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    data = _export_bundled(root, tmp_path)
    concise = next(c for c in data["testing_criteria"] if c["name"] == "concise")
    namespace: dict[str, Any] = {}
    exec(concise["source"], namespace)  # what OpenAI's sandbox would do with it
    assert namespace["grade"]({"output_text": "short"}, {}) == 1.0


def _export_bundled(root: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "bundled.json"
    code = main(
        [
            "export",
            "openai-evals",
            str(root / "rubrics" / "good_vibes_tone.yaml"),
            "--config",
            str(root / "pyproject.toml"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert data["testing_criteria"][0]["model"] == "gpt-4.1-2025-04-14"  # alias -> model id
    return data


# -- the cookbook grader pasted into a rubric by hand -----------------------------------------

PASTED = """\
name: pasted
dataset: ../data/demo.jsonl
models: [base, cand]
graders:
  - type: score_model
    name: Good Vibes Grader
    model: o3-mini
    input:
      - role: system
        content: Score the tone 0-4.
      - role: user
        content: |
          **User input**
          {{item.input}}
          **Response to evaluate**
          {{sample.output_text}}
    range: [0, 4]
    pass_threshold: 2
"""

PREFERENCE_ROW = {
    "id": "gv-1",
    "input": {
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": "My parcel is late."},
        ]
    },
    "preferred_output": [{"role": "assistant", "content": "So sorry! Let me check."}],
    "non_preferred_output": [{"role": "assistant", "content": "Wait."}],
}


def test_the_cookbook_grader_pasted_by_hand_runs_without_edits(project: Project) -> None:
    project.server.set_rules([Rule(judge=True, reply=judge_json(3))])
    project.write(
        PASTED + "gates: []\n",  # one case: the default not-worse gate could not be computed
        [PREFERENCE_ROW],
        models={"o3-mini": {"model": "o3-mini", "base_url": project.server.url}},
    )
    result = project.run()
    assert result.ret == 0, result.stdout.str()
    judged = project.requests(judge=True)
    assert len(judged) == 2
    text = judged[0].text
    assert "system: You are a support agent.\nuser: My parcel is late." in text
    assert "{'messages'" not in text and '{"messages"' not in text
    scores = project.rubric_report("pasted")["models"]
    assert json.dumps(scores)  # the report holds the grader under its display name
    assert "Good Vibes Grader" in json.dumps(project.rubric_report("pasted"))


def test_a_literal_openai_model_id_resolves_without_an_alias() -> None:
    resolved = resolve_models(Settings(), ["o3-mini", "gpt-4.1-mini"], {"OPENAI_API_KEY": "k"})
    assert resolved["o3-mini"].model == "o3-mini" and resolved["o3-mini"].base_url is None
    with pytest.raises(ConfigError, match="model alias 'judgee' is not configured"):
        resolve_models(Settings(), ["judgee"], {"OPENAI_API_KEY": "k"})


def test_an_imported_eval_runs_unchanged(project: Project) -> None:
    """Only the endpoints are set from the command line: the rubric, the data set and the
    aliases are what the import wrote."""
    project.server.set_rules([Rule(judge=True, reply=judge_json(3))])
    source = _write(project.path / "defs" / "gv.json", json.dumps(GOOD_VIBES))
    items = _write(project.path / "items.jsonl", "".join(json.dumps(i) + "\n" for i in ITEMS))
    code = main(
        [
            "import",
            "openai-evals",
            str(source),
            "--items",
            str(items),
            "--out",
            str(project.path),
            "--model",
            "base=base-m",
            "--model",
            "candidate=cand-m",
        ]
    )
    assert code == 0
    url = project.server.url
    result = project.run(
        *(
            a
            for alias in ("o3-mini", "base", "candidate")
            for a in ("--dj-set", f"models.{alias}.base_url={url}")
        )
    )
    assert result.ret == 0, result.stdout.str()
    judged = project.requests(judge=True)
    assert len(judged) == 4 and {r.model for r in judged} == {"o3-mini"}
    assert any("**User input**\nWhere is my order?" in r.text for r in judged)
    assert project.rubric_report("Good Vibes Eval")["cases"]


def test_structured_values_render_as_readable_text_not_python_reprs() -> None:
    from deltajudge.judging.templates import render

    item = {
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "meta": {"tier": "gold", "tags": ["vip"]},
        "count": 3,
    }
    text = render("{{ item.input }} | {{ item.meta }} | {{ item.count }}", {"item": item})
    assert text == 'user: Hi | {"tier": "gold", "tags": ["vip"]} | 3'
