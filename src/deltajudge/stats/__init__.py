"""Statistics over judged results: pure functions from scores to report figures.

Per model (`summarize`, `pass_rate`), per candidate-vs-baseline pair (`compare_paired`,
`mcnemar`, `regressions`, `length_effect`) and for the judge itself (`judge_noise`).
Every result is a frozen dataclass of plain floats and ints, None where a figure
cannot be computed, so `dataclasses.asdict` drops straight into report.json.
Intervals are seeded bootstraps: the same results always give the same report.

The package itself imports nothing, and the modules that compute import only numpy at
the top (the normal distribution comes from the standard library, `_special`): scipy.stats
(about 2 s on a 2-core runner) loads inside the functions that resample or rank, so
reading a results file, collecting cases or a run too small to bootstrap never pays.
"""
