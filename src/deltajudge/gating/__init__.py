"""Gate rules and baselines: figures in, pass/fail with a reason in words out."""
