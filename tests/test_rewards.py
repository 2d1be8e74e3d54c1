"""`deltajudge.rewards.from_rubric`: a rubric's grader called as TRL's GRPOTrainer calls a
reward function (``prompts``, ``completions``, dataset columns as keyword lists), on plain
and conversational completions, through the same grader code and cache as a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Project, judge_json, rubric_text
from deltajudge.errors import ConfigError
from deltajudge.rewards import from_rubric
from deltajudge.testing import Rule

GRADERS = """\
  - name: quality
    type: score_model
    model: judge
    range: [0, 4]
    input:
      - role: user
        content: "Q: {{ prompt }} A: {{ sample.output_text }} Topic: {{ item.topic }}"
  - name: exact
    type: string_check
    input: "{{ sample.output_text }}"
    reference: "{{ reference }}"
    operation: eq
  - name: short
    type: python
    source: |
      def grade(sample, item):
          return 1.0 if len(sample["output_text"]) < 12 else 0.0
  - name: blend
    type: multi
    graders:
      exact:
        type: string_check
        input: "{{ sample.output_text }}"
        reference: "{{ reference }}"
        operation: eq
      quality:
        type: score_model
        model: judge
        range: [0, 4]
        input: [{role: user, content: "A: {{ sample.output_text }}"}]
    calculate_output: "exact + quality / 4"
"""

ROWS = [{"id": "r1", "input": "capital of France?", "reference": "Paris", "topic": "geo"}]
PROMPTS = ["capital of France?", "2 + 2?", "colour of the sky?"]
COMPLETIONS = ["Paris", "four, I believe", "blue"]
REFERENCES = ["Paris", "4", "blue"]


def _rubric(project: Project) -> Path:
    project.server.set_rules(
        [
            Rule(judge=True, contains="A: Paris", reply=judge_json(4)),
            Rule(judge=True, contains="A: four", reply=judge_json(1)),
            Rule(judge=True, contains="A: blue", reply=judge_json(3)),
        ]
    )
    project.write(rubric_text(graders=GRADERS), ROWS)
    return project.path / "rubrics" / "demo.yaml"


def test_string_check_and_python_rewards_on_plain_completions(project: Project) -> None:
    path = _rubric(project)
    exact = from_rubric(path, "exact")
    assert exact(prompts=PROMPTS, completions=COMPLETIONS, reference=REFERENCES) == [1.0, 0.0, 1.0]
    short = from_rubric(path, grader="short")
    assert short(PROMPTS, COMPLETIONS, reference=REFERENCES) == [1.0, 0.0, 1.0]
    assert exact.__name__ == "demo.exact"
    assert project.server.count() == 0


def test_a_judge_reward_on_conversational_completions_is_concurrent_and_cached(
    project: Project,
) -> None:
    path = _rubric(project)
    quality = from_rubric(path, "quality")
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": p}]
        for p in PROMPTS
    ]
    completions = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    topics = ["geo", "maths", "nature"]
    assert quality(
        prompts=prompts, completions=completions, topic=topics, completion_ids=[[1], [2], [3]]
    ) == [4.0, 1.0, 3.0]
    judged = project.requests(judge=True)
    assert len(judged) == 3
    assert any("Q: 2 + 2? A: four, I believe Topic: maths" in r.text for r in judged)
    # the next epoch sees the same completions: answered from the cache
    assert quality(prompts=prompts, completions=completions, topic=topics) == [4.0, 1.0, 3.0]
    assert project.server.count() == 3


def test_a_multi_reward_combines_its_graders_and_an_unscorable_answer_gets_none(
    project: Project,
) -> None:
    path = _rubric(project)
    blend = from_rubric(path, "blend")
    assert blend(PROMPTS, COMPLETIONS, reference=REFERENCES) == [2.0, 0.25, 1.75]
    quality = from_rubric(path, "quality")
    project.server.set_rules([Rule(judge=True, reply=judge_json(9))])  # out of range
    assert quality(["q"], ["never judged before"], topic=["x"]) == [None]


def test_a_rubric_with_several_graders_needs_one_named(project: Project) -> None:
    path = _rubric(project)
    with pytest.raises(ConfigError, match="has 4 graders that score one answer; name one"):
        from_rubric(path)
    with pytest.raises(ConfigError, match="no grader named 'tone'"):
        from_rubric(path, "tone")
