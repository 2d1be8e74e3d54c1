"""Gate metric groups, shared by rubric validation and the gates themselves."""

#: Metrics read off a baseline-vs-candidate comparison; the rest are per model.
PAIRED_METRICS = frozenset(
    {
        "mean_delta",
        "delta_ci_low",
        "delta_ci_high",
        "p_value",
        "p_better",
        "p_worse",
        "win_rate",
        "regressions",
    }
)
