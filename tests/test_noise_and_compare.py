"""N-way comparisons (``models: [base, sft, dpo]``, ``compare: all``) and the judge noise
check, with every figure worked out by hand from the scripted scores."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest
from scipy.stats import norm

from conftest import (
    PROMPTS,
    Project,
    case_score_rules,
    item_outcomes,
    rubric_text,
)
from deltajudge.testing import Reply, Rule

# -- N-way ------------------------------------------------------------------------------------

#: Per case (case-1, case-2, case-3). Deltas: sft - base [1, 1, 0] -> 2/3;
#: dpo - base [3, 2, 0] -> 5/3; dpo - sft [2, 1, 0] -> 1.
NWAY = {"base": [1, 1, 2], "sft": [2, 2, 2], "dpo": [4, 3, 2]}


def _nway_project(project: Project, extra: str = "", gates: str = "") -> None:
    project.server.set_rules(case_score_rules(PROMPTS, **NWAY))
    aliases = {
        alias: {"model": f"{alias}-m", "base_url": project.server.url, "api": "chat"}
        for alias in ("sft", "dpo")
    }
    rubric = rubric_text(models=("base", "sft", "dpo"), gates=gates, extra=extra)
    project.write(rubric, models=aliases)


def _pairs(rubric: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["baseline"], c["candidate"]): c for c in rubric["comparisons"]}


def test_every_candidate_is_compared_with_the_baseline(project: Project) -> None:
    gates = "  - {name: lift, metric: mean_delta, grader: quality, min: 1}\n"
    _nway_project(project, gates=gates)

    result = project.run()

    assert item_outcomes(result) == {
        **dict.fromkeys(PROMPTS, "passed"),
        "lift[sft]": "failed",  # 2/3 < 1
        "lift[dpo]": "passed",  # 5/3
    }
    rubric = project.rubric_report()
    assert rubric["candidates"] == ["sft", "dpo"]
    pairs = _pairs(rubric)
    assert list(pairs) == [("base", "sft"), ("base", "dpo")]
    assert pairs[("base", "sft")]["mean_delta"] == pytest.approx(2 / 3, abs=1e-12)
    assert pairs[("base", "dpo")]["mean_delta"] == pytest.approx(5 / 3, abs=1e-12)
    assert (pairs[("base", "dpo")]["wins"], pairs[("base", "dpo")]["ties"]) == (2, 1)
    case_1 = next(c for c in rubric["cases"] if c["id"] == "case-1")
    assert case_1["deltas"] == {"sft": {"quality": 1.0}, "dpo": {"quality": 3.0}}
    means = {alias: rubric["models"][alias]["graders"]["quality"]["mean"] for alias in NWAY}
    assert means == pytest.approx({"base": 4 / 3, "sft": 2.0, "dpo": 3.0})
    assert len(project.requests(judge=False)) == 9 and len(project.requests(judge=True)) == 9


def test_compare_all_also_compares_the_candidates_with_each_other(project: Project) -> None:
    gates = (
        "  - {metric: mean_delta, grader: quality, candidate: dpo, min: 1.5}\n"
        "  - {metric: win_rate, grader: quality, max: 0.7}\n"
    )
    _nway_project(project, extra="compare: all\n", gates=gates)

    result = project.run()

    outcomes = item_outcomes(result)
    assert outcomes["mean_delta(quality, dpo) >= 1.5"] == "passed"
    assert outcomes["win_rate(quality, sft) <= 0.7"] == "passed"  # 2/3
    assert outcomes["win_rate(quality, dpo) <= 0.7"] == "passed"  # 2/3
    rubric = project.rubric_report()
    pairs = _pairs(rubric)
    assert list(pairs) == [("base", "sft"), ("base", "dpo"), ("sft", "dpo")]
    sft_dpo = pairs[("sft", "dpo")]
    assert sft_dpo["mean_delta"] == 1.0
    assert (sft_dpo["wins"], sft_dpo["ties"], sft_dpo["losses"], sft_dpo["n"]) == (2, 1, 0, 3)
    # A gate on dpo reads dpo against the baseline (5/3), not against sft (1).
    gates_by_name = {g["name"]: g for g in rubric["gates"]}
    assert gates_by_name["mean_delta(quality, dpo) >= 1.5"]["value"] == pytest.approx(5 / 3)
    assert gates_by_name["win_rate(quality, dpo) <= 0.7"]["value"] == pytest.approx(2 / 3)
    # Per-case deltas stay against the baseline.
    case_1 = next(c for c in rubric["cases"] if c["id"] == "case-1")
    assert set(case_1["deltas"]) == {"sft", "dpo"}


# -- noise check ------------------------------------------------------------------------------

#: answer -> the scores the judge gives it, in order: the first is the graded score, the
#: others the repeats. Graded: base [1, 2, 0], cand [3, 4, 2]: every delta is 2.
NOISY: dict[str, tuple[int, ...]] = {
    "[base-m] question one": (1, 2, 3),
    "[base-m] question two": (2, 2, 2),
    "[base-m] question three": (0, 1, 2),
    "[cand-m] question one": (3, 3, 4),
    "[cand-m] question two": (4, 2, 3),
    "[cand-m] question three": (2, 2, 2),
}


def _noisy_rules() -> list[Rule]:
    return [
        Rule(judge=True, contains=marker, reply=Reply(json={"reasoning": "r", "score": s}, times=1))
        for marker, scores in NOISY.items()
        for s in scores
    ]


def _pooled_sd(groups: list[tuple[int, ...]]) -> float:
    """Equal repeats per answer: the pooled variance is the mean of the sample variances."""
    return math.sqrt(statistics.mean(statistics.variance(g) for g in groups))


def _mdd(sd: float, n_cases: int) -> float:
    return (norm.ppf(0.975) + norm.ppf(0.8)) * math.sqrt(2) * sd / math.sqrt(n_cases)


def test_noise_check_rejudges_answers_and_reports_the_judges_spread(project: Project) -> None:
    project.server.set_rules(_noisy_rules())
    project.write(rubric_text(extra="noise_check: {cases: 3, repeats: 3}\n"))

    project.run().assert_outcomes(passed=3)

    judged = project.requests(judge=True)
    assert len(judged) == 18  # 6 answers graded once, then judged twice more each
    for marker in NOISY:
        assert sum(marker in r.text for r in judged) == 3
    rubric = project.rubric_report()
    cases = {c["id"]: c for c in rubric["cases"]}
    assert [cases[c]["samples"]["base"]["scores"]["quality"] for c in PROMPTS] == [1, 2, 0]
    assert [cases[c]["samples"]["cand"]["scores"]["quality"] for c in PROMPTS] == [3, 4, 2]
    noise = rubric["noise"]
    # variances 1, 0, 1, 1/3, 1, 0: pooled 5/9
    sd = _pooled_sd(list(NOISY.values()))
    assert sd == pytest.approx(math.sqrt(5 / 9))
    assert (noise["grader"], noise["answers"], noise["repeats"]) == ("quality", 6, 3)
    assert noise["within_sd"] == pytest.approx(sd, abs=1e-12)
    assert noise["min_detectable_delta"] == pytest.approx(_mdd(sd, 3), abs=1e-12)
    # "detectable" (|delta| against a power figure) is gone: 3 cases that all moved by 2
    # are too few for a verdict, and with no spread there is no power to report.
    assert "detectable" not in noise
    assert rubric["comparisons"][0]["verdict"]["outcome"] == "insufficient evidence"
    assert rubric["comparisons"][0]["power"] is None
    # The figures still use only the graded scores, not the repeats.
    assert rubric["comparisons"][0]["mean_delta"] == 2.0


def test_noise_check_samples_the_cases_it_was_asked_for(project: Project) -> None:
    project.server.set_rules(_noisy_rules())
    project.write(rubric_text(extra="noise_check: {cases: 2, repeats: 3}\n"))

    project.run().assert_outcomes(passed=3)

    judged = project.requests(judge=True)
    assert len(judged) == 6 + 2 * 2 * 2  # 2 cases x 2 models re-judged twice
    rejudged = [marker for marker in NOISY if sum(marker in r.text for r in judged) == 3]
    assert len(rejudged) == 4
    chosen = {marker.split("] ")[1] for marker in rejudged}
    assert len(chosen) == 2  # both models' answers to the same two prompts
    noise = project.rubric_report()["noise"]
    assert (noise["answers"], noise["repeats"]) == (4, 3)
    sd = _pooled_sd([NOISY[m] for m in rejudged])
    assert noise["within_sd"] == pytest.approx(sd, abs=1e-12)
    assert noise["min_detectable_delta"] == pytest.approx(_mdd(sd, 3), abs=1e-12)
