"""``deltajudge export``: what a rubric says that OpenAI's graders cannot hold is a note
in the output, never dropped in silence."""

from __future__ import annotations

import json

import pytest

from conftest import DEFAULT_GRADER, Project, rubric_text
from deltajudge.cli import main

ROUTED_TEXT_GRADER = (
    DEFAULT_GRADER
    + """\
    when: "item.id != 'case-3'"
    output: {format: text, preset: rating_brackets}
  - name: exact
    type: string_check
    reference: "yes"
    operation: eq
"""
)


@pytest.mark.parametrize("target", ["openai-evals", "rft-grader"])
def test_routing_and_output_contracts_are_named_in_the_notes(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
) -> None:
    project.write(rubric_text(graders=ROUTED_TEXT_GRADER))
    monkeypatch.chdir(project.path)

    assert main(["export", target, "rubrics/demo.yaml"]) == 0

    captured = capsys.readouterr()
    body = json.loads(captured.out)
    criteria = body["testing_criteria"] if target == "openai-evals" else body["graders"]
    quality = criteria[0] if target == "openai-evals" else criteria["quality"]
    assert "when" not in quality and "output" not in quality
    notes = [line for line in captured.err.splitlines() if line.startswith("note: ")]
    where = "graders[0] (quality)" if target == "openai-evals" else "quality"
    assert any(
        n.startswith(f"note: {where}: when: item.id != 'case-3' is deltajudge's routing")
        and "will judge all rows" in n
        for n in notes
    ), notes
    assert any(
        n.startswith(f"note: {where}: output: text:rating_brackets") and "not exported" in n
        for n in notes
    ), notes
    # the plain grader gets neither note
    assert not any("exact" in n and ("when:" in n or "output:" in n) for n in notes)
