"""Synthetic but realistic `Report` objects for the renderer tests and the HTML benchmark.

A renderer only ever sees a `Report`, so these tests need no model, server or cache:
this module plays a whole run. The figures are computed from the synthetic cases with
plain formulas (normal-approximation intervals and p-values standing in for the bootstrap
and the Wilcoxon test), so every number on the page can be traced back to the cases, and the
output is the same for the same seed.

The cases hold what a renderer must survive: generation and judge errors, regressions,
gates that pass and gates that fail, and hostile strings in answers, prompts and judge
reasoning (`INJECT_SCRIPT`, `INJECT_IMG`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import statistics
from collections.abc import Sequence

from deltajudge.reporting.model import (
    CaseEntry,
    ComparisonEntry,
    GateEntry,
    GraderFigures,
    GraderInfo,
    ModelFigures,
    ModelInfo,
    NoiseEntry,
    Regression,
    Report,
    RubricEntry,
    SampleEntry,
    TokenEntry,
)

INJECT_SCRIPT = "<script>alert(1)</script>"
INJECT_IMG = '"><img src=x onerror=alert(2)>'
JUDGE_NOTE = (
    "the embedded judge is a smoke-level stand-in: use a real judge before trusting these scores"
)
GRADERS = ("tone", "helpfulness")
#: How far each candidate moves each grader on average (the DPO guide's Δ mean ≈ 0.45).
SHIFTS = {"candidate": {"tone": 0.6, "helpfulness": -0.1}, "sft": {"tone": 0.2, "helpfulness": 0.1}}
REGRESSION_TOLERANCE = 1.0
#: Case indices with planted trouble.
GENERATION_ERROR_AT = 5
JUDGE_ERROR_AT = 11

_ASKS = [
    "Where is my order #{n}? It was supposed to arrive on Monday.",
    "I was charged twice for subscription {n}. Can you refund one of the charges?",
    "How do I reset the password on my Good Vibes account?",
    "Your app keeps crashing when I open the playlist page. Fix it!",
    "Can I change the shipping address for order #{n} after it shipped?",
    "What is your return policy for opened items?",
    "The speaker I bought ({n}) makes a buzzing noise at high volume.",
    "I want to cancel my plan, but the cancel button does nothing.",
]
_OPENERS = ["Thanks for reaching out.", "Hello,", "I understand your concern."]
_WARM = [
    "Thank you so much for reaching out, I'm sorry for the trouble!",
    "Hi there, happy to help!",
]
_BODIES = [
    "I have checked order #{n} and it is currently with the courier.",
    "The refund will be processed within 5 to 7 business days.",
    "Please open Settings, choose Account, and select Reset password.",
    "Our engineers are aware of the issue and a fix ships in the next update.",
    "Once a parcel has shipped, the address can only be changed by the courier.",
    "Opened items can be returned within 30 days with the original receipt.",
    "This usually means the firmware is out of date; updating it fixes the noise.",
    "I have cancelled the plan for you and you will receive a confirmation email.",
]
_CLOSERS = ["Let me know if there is anything else.", "Regards, Support.", ""]
_REASONS = [
    "The response is polite and answers the question directly, with a clear next step.",
    "Accurate but curt; it does not acknowledge the customer's frustration.",
    "The answer is friendly, yet it promises a timeline the policy does not support.",
    "Helpful and specific; the tone matches the brand guide.",
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _clamp(score: float) -> float:
    return float(min(4, max(0, round(score))))


def _answers(rng: random.Random, i: int, n: int) -> tuple[str, str, str]:
    """A baseline answer and two fine-tunes that edit it, so the word diff has something to show.

    The first candidate is warmer and adds a closing question (what DPO on tone tends to
    do); the second changes a word or two (a light SFT touch).
    """
    opener, closer = rng.choice(_OPENERS), rng.choice(_CLOSERS)
    body = _BODIES[i % len(_BODIES)].format(n=n)
    extra = f"\n\n{_BODIES[(i + 3) % len(_BODIES)].format(n=n)}" if i % 4 == 0 else ""
    base = " ".join(p for p in (opener, body, closer) if p) + extra
    words = body.split()
    words[rng.randrange(len(words))] = rng.choice(["quickly", "today", "personally", "kindly"])
    warm = f"{rng.choice(_WARM)} {' '.join(words)}{extra} Is there anything else I can do for you?"
    light = " ".join(p for p in (opener, body.replace(" the ", " your ", 1), closer) if p) + extra
    return base, warm, light


def _sample(rng: random.Random, text: str, scores: dict[str, float | None]) -> SampleEntry:
    return SampleEntry(
        output_text=text,
        prompt_tokens=rng.randint(40, 90),
        completion_tokens=max(1, len(text) // 4),
        cached=rng.random() < 0.2,
        scores=scores,
        passed={g: None if s is None else s >= 2 for g, s in scores.items()},
        reasoning={g: None if s is None else rng.choice(_REASONS) for g, s in scores.items()},
    )


def _case(rng: random.Random, i: int, candidates: Sequence[str]) -> CaseEntry:
    n = 10_000 + i
    prompt = _ASKS[i % len(_ASKS)].format(n=n)
    base_text, cand_text, light_text = _answers(rng, i, n)
    if i == 0:
        base_text += f" My name is {INJECT_IMG} and I approve."
        cand_text += f" {INJECT_SCRIPT}"
    if i == 1:
        prompt += f" {INJECT_IMG}"
    quality = rng.gauss(2.2, 0.9)
    base_scores: dict[str, float | None] = {g: _clamp(quality + rng.gauss(0, 0.5)) for g in GRADERS}
    samples = {"base": _sample(rng, base_text, base_scores)}
    for alias in candidates:
        shift = SHIFTS.get(alias, SHIFTS["sft"])
        scores: dict[str, float | None] = {
            g: _clamp((base_scores[g] or 0) + shift[g] + rng.gauss(0, 0.7)) for g in GRADERS
        }
        if i % 9 == 0:  # a planted regression: the candidate got much less helpful
            samples["base"].scores["helpfulness"] = 4.0
            samples["base"].passed["helpfulness"] = True
            scores["helpfulness"] = 1.0
        samples[alias] = _sample(rng, cand_text if alias == candidates[0] else light_text, scores)
    if i == 0:
        samples["base"].reasoning["tone"] = f"Quoted the user: {INJECT_IMG}"
    errors: list[str] = []
    if i == GENERATION_ERROR_AT:
        alias = candidates[0]
        samples[alias] = SampleEntry(error="APITimeoutError: Request timed out after 120 s")
        errors.append(f"{alias}: {samples[alias].error}")
    if i == JUDGE_ERROR_AT:
        s = samples["base"]
        s.scores["helpfulness"] = s.passed["helpfulness"] = s.reasoning["helpfulness"] = None
        s.grade_errors["helpfulness"] = "judge gave no score in 3 attempts"
        errors.append(f"base/helpfulness: {s.grade_errors['helpfulness']}")
    deltas: dict[str, dict[str, float | None]] = {}
    for alias in candidates:
        deltas[alias] = {}
        for g in GRADERS:
            b, c = samples["base"].scores.get(g), samples[alias].scores.get(g)
            deltas[alias][g] = None if b is None or c is None else c - b
    return CaseEntry(
        id=f"case-{i:04d}", prompt=prompt, line=i + 1, samples=samples, deltas=deltas, errors=errors
    )


def _ci(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _z_p(values: Sequence[float]) -> float | None:
    """Two-sided normal-approximation p-value: agrees with `_ci` on "excludes 0"."""
    if len(values) < 2 or not any(values):
        return None
    se = statistics.stdev(values) / math.sqrt(len(values))
    return math.erfc(abs(statistics.fmean(values)) / se / math.sqrt(2)) if se else 0.0


def _sign_p(k: int, n: int) -> float | None:
    if n == 0:
        return None
    tail: float = sum(math.comb(n, j) for j in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _figures(
    cases: Sequence[CaseEntry], alias: str, grader: str, threshold: float | None = 2
) -> GraderFigures:
    scored = [(c.samples[alias].scores.get(grader), c.samples[alias]) for c in cases]
    values = [s for s, _ in scored if s is not None]
    lengths = [len(sample.output_text) for s, sample in scored if s is not None]
    mean, low, high = _ci(values)
    passed = sum(v >= threshold for v in values) if threshold is not None else None
    rate = passed / len(values) if values and passed is not None else None
    half = 1.96 * math.sqrt(rate * (1 - rate) / len(values)) if rate is not None else None
    return GraderFigures(
        n=len(values),
        errors=len(cases) - len(values),
        mean=mean,
        std=statistics.stdev(values) if len(values) > 1 else None,
        ci_low=low,
        ci_high=high,
        pass_rate=rate,
        pass_rate_ci_low=None if rate is None or half is None else max(0.0, rate - half),
        pass_rate_ci_high=None if rate is None or half is None else min(1.0, rate + half),
        passed=passed,
        mean_length=statistics.fmean(lengths) if lengths else None,
    )


def _comparison(
    cases: Sequence[CaseEntry],
    candidate: str,
    grader: str,
    baseline: str = "base",
    pairwise: bool = False,
) -> ComparisonEntry:
    """Paired figures; a pairwise grade already is the delta, so its baseline side is 0."""
    pairs = [
        (c, 0.0 if pairwise else c.samples[baseline].scores.get(grader),
         c.samples[candidate].scores.get(grader))
        for c in cases
    ]  # fmt: skip
    both = [(c, b, s) for c, b, s in pairs if b is not None and s is not None]
    diffs = [s - b for _, b, s in both]
    mean, low, high = _ci(diffs)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    fixed = sum(b < 2 <= s for _, b, s in both)
    broken = sum(s < 2 <= b for _, b, s in both)
    regressed = sorted(
        (Regression(id=c.id, delta=s - b) for c, b, s in both if s - b < -REGRESSION_TOLERANCE),
        key=lambda r: r.delta,
    )
    return ComparisonEntry(
        baseline=baseline,
        candidate=candidate,
        grader=grader,
        n=len(both),
        errors=len(cases) - len(both),
        mean_delta=mean,
        ci_low=low,
        ci_high=high,
        p_value=_z_p(diffs),
        sign_test_p=_sign_p(wins, wins + losses),
        wins=wins,
        ties=len(diffs) - wins - losses,
        losses=losses,
        win_rate=wins / len(diffs) if diffs else None,
        mcnemar_fixed=None if pairwise else fixed,
        mcnemar_broken=None if pairwise else broken,
        mcnemar_p=None if pairwise else _sign_p(fixed, fixed + broken),
        baseline_mean_length=statistics.fmean(
            len(c.samples[baseline].output_text) for c, *_ in both
        ),
        candidate_mean_length=statistics.fmean(
            len(c.samples[candidate].output_text) for c, *_ in both
        ),
        regressions=regressed,
    )


def _gates(models: dict[str, ModelFigures], comparisons: list[ComparisonEntry]) -> list[GateEntry]:
    """Per candidate: a delta gate that passes and a no-regressions gate that fails."""
    gates = []
    several = len({c.candidate for c in comparisons}) > 1
    for c in comparisons:
        suffix = f"[{c.candidate}]" if several else ""
        if c.grader == "tone":
            ok = c.ci_low is not None and c.ci_low >= 0.0
            gates.append(GateEntry(
                name=f"tone improves{suffix}", metric="delta_ci_low", grader="tone",
                model=c.candidate, passed=ok, value=c.ci_low, min=0.0,
                reason=f"delta_ci_low = {c.ci_low:+.2f}, required >= 0" if c.ci_low is not None
                else "no paired cases",
            ))  # fmt: skip
        else:
            count = len(c.regressions)
            gates.append(GateEntry(
                name=f"no helpfulness regressions{suffix}", metric="regressions",
                grader="helpfulness", model=c.candidate, passed=count == 0, value=float(count),
                max=0.0, reason=f"{count} cases dropped by more than {REGRESSION_TOLERANCE:g}",
            ))  # fmt: skip
    pass_rate = models["base"].graders["tone"].pass_rate
    gates.append(GateEntry(
        name="baseline tone pass rate >= 0.2", metric="pass_rate", grader="tone", model="base",
        passed=pass_rate is not None and pass_rate >= 0.2, value=pass_rate, min=0.2,
        reason=f"pass_rate = {pass_rate:.2f}, required >= 0.2" if pass_rate is not None else "",
    ))  # fmt: skip
    return gates


def _rubric(rng: random.Random, n_cases: int, candidates: Sequence[str]) -> RubricEntry:
    cases = [_case(rng, i, candidates) for i in range(n_cases)]
    aliases = ["base", *candidates]
    models = {a: ModelFigures(graders={g: _figures(cases, a, g) for g in GRADERS}) for a in aliases}
    comparisons = [_comparison(cases, c, g) for c in candidates for g in GRADERS]
    regressed = {r.id for c in comparisons for r in c.regressions}
    for case in cases:
        case.regressed = case.id in regressed
    return RubricEntry(
        name="tone",
        description="Support answers: on-brand tone and real help (Good Vibes Corp).",
        path="rubrics/tone.yaml",
        sha256=_sha("tone rubric"),
        dataset="fixtures/support_prompts.test.jsonl",
        dataset_sha256=_sha(f"dataset {n_cases}"),
        baseline="base",
        candidates=list(candidates),
        cases_total=n_cases + 10,
        cases_selected=n_cases,
        graders=[
            GraderInfo(name=g, type="score_model", model="judge", range=[0, 4], pass_threshold=2)
            for g in GRADERS
        ],
        models=models,
        comparisons=comparisons,
        cases=cases,
        gates=_gates(models, comparisons),
    )


def _model_info(model: str, tokens: TokenEntry, **params: object) -> ModelInfo:
    return ModelInfo(
        model=model, provider="openai", api="chat", params=dict(params), tokens=tokens,
        system="You are a customer support agent for Good Vibes Corp.",
    )  # fmt: skip


def make_report(
    n_cases: int = 40, *, candidates: Sequence[str] = ("candidate",), seed: int = 7
) -> Report:
    """A one-rubric report: ``base`` against each of ``candidates`` on two 0–4 judge graders."""
    if n_cases < 12:
        raise ValueError("make_report needs at least 12 cases to plant its errors")
    rng = random.Random(seed)
    rubric = _rubric(rng, n_cases, candidates)
    tokens = {}
    for alias in ["base", *candidates]:
        samples = [c.samples[alias] for c in rubric.cases]
        tokens[alias] = TokenEntry(
            prompt_tokens=sum(s.prompt_tokens for s in samples),
            completion_tokens=sum(s.completion_tokens for s in samples),
            calls=len(samples),
            cached_calls=sum(s.cached for s in samples),
        )
    gradings = n_cases * len(GRADERS) * (1 + len(candidates))
    tokens["judge"] = TokenEntry(
        prompt_tokens=420 * gradings, completion_tokens=60 * gradings, calls=gradings
    )
    models = {
        "base": _model_info("gpt-4.1-mini-2025-04-14", tokens["base"], temperature=0.7, seed=1),
        **{
            alias: _model_info(f"ft:gpt-4.1-mini-2025-04-14:goodvibes:{alias}:abc123",
                               tokens[alias], temperature=0.7, seed=1)
            for alias in candidates
        },
        "judge": _model_info("gpt-4.1-2025-04-14", tokens["judge"], temperature=0),
    }  # fmt: skip
    calls = sum(t.calls for t in tokens.values())
    return Report(
        schema_version=1,
        deltajudge_version="0.1.0",
        created_at="2025-06-11T09:30:00+00:00",
        duration_s=42.5,
        git_commit="954b4bd1c0ffee0000000000000000000000beef",
        calls=calls,
        cache_hits=sum(t.cached_calls for t in tokens.values()),
        notes=[JUDGE_NOTE],
        models=models,
        rubrics=[rubric],
    )


def with_extras(report: Report) -> Report:
    """The same run with what newer rubrics add: a ``pairwise`` grader (the candidate's
    preference over the baseline, +1/0/−1, with swapped-order flips), candidate-against-
    candidate comparisons (``compare: all``) and a judge-noise check on ``tone``."""
    rubric = report.rubrics[0].model_copy(deep=True)
    rng = random.Random(3)
    for case in rubric.cases:
        for alias in rubric.candidates:
            sample = case.samples[alias]
            if not sample.error:
                sample.scores["preference"] = rng.choice([1.0, 1.0, 0.0, -1.0])
                sample.reasoning["preference"] = "Prefers the answer that names a next step."
    rubric.graders.append(GraderInfo(name="preference", type="pairwise", model="judge"))
    for alias in rubric.candidates:
        figures = _figures(rubric.cases, alias, "preference", threshold=None)
        rubric.models[alias].graders["preference"] = figures
        pairwise = _comparison(rubric.cases, alias, "preference", pairwise=True)
        rubric.comparisons.append(pairwise.model_copy(update={"inconsistent": 3}))
    for first, second in itertools.combinations(rubric.candidates, 2):
        rubric.comparisons += [_comparison(rubric.cases, second, g, first) for g in GRADERS]
    tone = {
        c.candidate: c.mean_delta
        for c in rubric.comparisons
        if c.grader == "tone" and c.baseline == "base"
    }
    rubric.noise = NoiseEntry(
        grader="tone", answers=20, repeats=3, within_sd=0.41, min_detectable_delta=0.3,
        detectable={c: abs(d) > 0.3 if d is not None else None for c, d in tone.items()},
    )  # fmt: skip
    return report.model_copy(update={"rubrics": [rubric]})
