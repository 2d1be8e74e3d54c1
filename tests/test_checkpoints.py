"""``compare: checkpoints``: every checkpoint of a job against the base and against the
final one (Holm-corrected), the best checkpoint named, and the job's facts as fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Project, item_outcomes, rubric_text, scores_by_marker
from deltajudge.errors import ConfigError, RubricError
from deltajudge.gating.checkpoints import checkpoint_sweep, family_verdicts
from deltajudge.gating.outcome import CheckpointSweep, Verdict
from deltajudge.judging.rubric import parse_rubric
from deltajudge.reporting.build import read_json
from deltajudge.reporting.model import Report
from deltajudge.settings import load_settings
from deltajudge.stats.aggregates import summarize
from deltajudge.stats.length import length_effect
from deltajudge.stats.paired import compare_paired
from deltajudge.stats.rubric import Comparison, ModelGraderStats, RubricStats
from test_finetune import finished_job

#: Eight cases: enough changed cases (at least 6) for a verdict either way.
PROMPTS = {f"case-{i}": f"question {i}" for i in range(1, 9)}


def _rows() -> list[dict[str, Any]]:
    return [{"id": case_id, "input": text} for case_id, text in PROMPTS.items()]


def _sweep_project(project: Project, tmp_path: Path, scores: dict[str, float]) -> str:
    """base + checkpoints at steps 10, 20, 30 (the final) of one scripted job."""
    job_id = finished_job(project.server, tmp_path, beta=0.1, n_epochs=3)
    prefix = f"ft:base-m:scripted:vibes:{job_id}:ckpt-step-"
    markers = {"[base-m]": scores["base"]}
    markers |= {f"[{prefix}{step}]": scores[f"step_{step}"] for step in (10, 20, 30)}
    project.server.set_rules(scores_by_marker(markers))
    models = {
        f"step_{s}": {"model": f"ftjob:{job_id}@{s}", "base_url": project.server.url}
        for s in (10, 20, 30)
    }
    rubric = rubric_text(
        models=("base", "step_10", "step_20", "step_30"), extra="compare: checkpoints\n"
    )
    project.write(rubric, _rows(), models=models)
    return job_id


def test_the_best_checkpoint_is_named_when_training_went_past_it(
    project: Project, tmp_path: Path
) -> None:
    scores = {"base": 1, "step_10": 2, "step_20": 4, "step_30": 3}
    job_id = _sweep_project(project, tmp_path, scores)

    result = project.run()

    assert set(item_outcomes(result).values()) == {"passed"}
    rubric = project.rubric_report()
    pairs = {(c["baseline"], c["candidate"]): c for c in rubric["comparisons"]}
    assert list(pairs) == [
        ("base", "step_10"),
        ("base", "step_20"),
        ("base", "step_30"),
        ("step_30", "step_10"),
        ("step_30", "step_20"),
    ]
    # 8 of 8 cases one way: exact two-sided p = 2/2^8; Holm over the 2 earlier checkpoints.
    against_final = pairs[("step_30", "step_10")]["verdict"]
    assert against_final["outcome"] == "worse"
    assert against_final["correction"] == "holm"
    assert against_final["p_value"] == pytest.approx(2 * 2 / 2**8)
    assert pairs[("step_30", "step_20")]["verdict"]["outcome"] == "better"
    # against the base too: Holm by default in a sweep (3 checkpoints, all at 2/2^8)
    assert pairs[("base", "step_10")]["verdict"]["correction"] == "holm"
    assert pairs[("base", "step_10")]["verdict"]["p_value"] == pytest.approx(3 * 2 / 2**8)
    assert rubric["correction"] == "holm"
    sweep = rubric["checkpoints"]
    assert (sweep["grader"], sweep["base"], sweep["final"]) == ("quality", "base", "step_30")
    assert sweep["best"] == "step_20"
    assert sweep["overtrained"] is True
    rows = {r["alias"]: r for r in sweep["checkpoints"]}
    assert [r["alias"] for r in sweep["checkpoints"]] == ["step_10", "step_20", "step_30"]
    assert rows["step_10"]["eligible"] is False and rows["step_30"]["vs_final"] is None
    assert rows["step_20"]["mean"] == 4.0 and rows["step_20"]["vs_base"]["outcome"] == "better"
    assert "significantly worse than the final: step_10" in sweep["reason"]
    assert "over-trained: step_20" in sweep["reason"]
    assert (
        "best checkpoint: step_20 (step_20 has the highest mean quality (4)" in result.stdout.str()
    )
    job = project.report()["models"]["step_20"]["job"]
    assert job == {
        "job_id": job_id,
        "base_model": "base-m",
        "method": "dpo",
        "hyperparameters": {"beta": 0.1, "n_epochs": 3},
        "trained_tokens": 12345,
        "step": 20,
    }
    assert project.report()["models"]["base"]["job"] is None
    read = read_json(project.path / "reports" / "latest" / "report.json")
    assert read.rubric("demo").checkpoints == sweep_from(read)
    assert read.models["step_20"].job is not None and read.models["step_20"].job.step == 20
    # step_10 is below the final on every case, but no case regressed against the base
    assert pairs[("step_30", "step_10")]["regressions"]
    assert not any(case["regressed"] for case in rubric["cases"])


def sweep_from(report: Report) -> CheckpointSweep | None:
    """The sweep as a reader of report.json gets it back: typed, verdicts included."""
    sweep = report.rubric("demo").checkpoints
    assert sweep is not None and sweep.best == "step_20"
    assert isinstance(sweep.checkpoints[0].vs_final, Verdict)
    return sweep


def test_the_final_checkpoint_wins_when_nothing_earlier_beats_it(
    project: Project, tmp_path: Path
) -> None:
    scores = {"base": 1, "step_10": 2, "step_20": 3, "step_30": 3}
    _sweep_project(project, tmp_path, scores)

    project.run()

    sweep = project.rubric_report()["checkpoints"]
    # step_20 ties the final on every case (no verdict) and has the same mean: the tie
    # goes to the earlier checkpoint, the cheaper one for the same score.
    assert sweep["best"] == "step_20"
    assert sweep["overtrained"] is False
    outcome = {r["alias"]: r["vs_final"] for r in sweep["checkpoints"]}
    assert outcome["step_20"]["outcome"] == "insufficient evidence"


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ("[base, only]", "compare: needs the base model and at least 2 checkpoints"),
        ("[base, a, b]", None),
    ],
)
def test_a_sweep_needs_two_checkpoints(tmp_path: Path, models: str, expected: str | None) -> None:
    text = rubric_text(extra="compare: checkpoints\n").replace("[base, cand]", models)
    path = tmp_path / "sweep.yaml"
    if expected is None:
        rubric, _ = parse_rubric(text, path)
        assert (rubric.final_checkpoint, rubric.primary_grader) == ("b", "quality")
        return
    with pytest.raises(RubricError) as raised:
        parse_rubric(text, path)
    rendered = raised.value.render()
    line = text.splitlines().index("compare: checkpoints") + 1
    assert rendered.startswith(f"{path}:{line}:")  # the `compare:` line
    assert "compare: checkpoints needs the base model and at least 2" in rendered


def test_an_unknown_checkpoint_alias_fails_collection_at_its_line(project: Project) -> None:
    rubric = rubric_text(models=("base", "cand", "step_99"), extra="compare: checkpoints\n")
    project.write(rubric)

    result = project.run()

    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "demo.yaml:3:" in out and "model alias 'step_99' is not configured" in out


def _stats(means: dict[str, list[float]]) -> tuple[Any, RubricStats]:
    """Per-model stats and comparisons for a sweep, straight from per-case scores."""
    aliases = list(means)
    text = rubric_text(models=aliases, extra="compare: checkpoints\n")
    rubric, _ = parse_rubric(text, Path("sweep.yaml"))
    models = {
        a: {"quality": ModelGraderStats(summarize(s), None, 0, None)} for a, s in means.items()
    }
    final = aliases[-1]
    pairs = [(aliases[0], c) for c in aliases[1:]] + [(final, c) for c in aliases[1:-1]]
    comparisons = [
        Comparison(
            b,
            c,
            "quality",
            compare_paired(means[b], means[c]),
            0,
            None,
            length_effect(means[b], means[c], [1] * 8, [1] * 8),
        )
        for b, c in pairs
    ]
    return rubric, RubricStats(models=models, comparisons=comparisons)


def test_holm_counts_only_the_checkpoints_against_the_final() -> None:
    rubric, stats = _stats(
        {
            "base": [1.0] * 8,
            "a": [1.0] * 8,
            "b": [2.0] * 7 + [3.0],
            "c": [3.0] * 8,
            "final": [2.0] * 8,
        }
    )
    found = family_verdicts(rubric, stats.comparisons)
    against_final = [
        v for c, v in zip(stats.comparisons, found, strict=True) if c.baseline == "final"
    ]
    # c - final = +1 on 8 cases: raw p = 2/256, times 3 earlier checkpoints (Holm, smallest)
    assert against_final[2].outcome == "better"
    assert against_final[2].p_value == pytest.approx(3 * 2 / 256)
    sweep = checkpoint_sweep(rubric, stats, found)
    assert against_final[0].outcome == "worse"  # a - final = -1 on 8 cases
    assert sweep is not None and sweep.best == "c" and sweep.overtrained
    assert [r.eligible for r in sweep.checkpoints] == [False, True, True, True]


def test_a_sweep_is_holm_corrected_against_the_base_unless_the_file_says_none() -> None:
    sweep = rubric_text(models=("base", "a", "b"), extra="compare: checkpoints\n")
    assert parse_rubric(sweep, Path("s.yaml"))[0].effective_correction == "holm"
    plain = parse_rubric(sweep + "correction: none\n", Path("s.yaml"))[0]
    assert plain.effective_correction == "none"
    two = rubric_text(models=("base", "cand"))
    assert parse_rubric(two, Path("t.yaml"))[0].effective_correction == "none"


def test_job_facts_come_from_the_job_never_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "deltajudge.toml"
    config.write_text(
        '[models.cand]\nmodel = "m"\n'
        'job = {job_id = "ftjob-x", base_model = "b", method = "dpo"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="job: filled in from model = 'ftjob:<job id>'"):
        load_settings(tmp_path)
