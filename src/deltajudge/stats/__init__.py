"""Statistics over judged results: pure functions from scores to report figures.

Per model (`summarize`, `pass_rate`), per candidate-vs-baseline pair (`compare_paired`,
`mcnemar`, `regressions`, `length_effect`) and for the judge itself (`judge_noise`).
Every result is a frozen dataclass of plain floats and ints, None where a figure
cannot be computed, so `dataclasses.asdict` drops straight into report.json.
Intervals are seeded bootstraps: the same results always give the same report.

The package itself imports nothing: scipy (about a second) loads only with the modules
that compute, so reading a results file or collecting cases never pays for it.
"""
