"""Policy numbers in one place, so a reader can find every default without grepping."""

from __future__ import annotations

#: Version of the report.json layout; bump on any breaking change to it.
REPORT_SCHEMA_VERSION = 2

#: Versions `deltajudge report`, `diff` and the baseline gate still read. Version 2 only
#: added fields (verdicts, one-sided p-values, case verdicts), so a version 1 file
#: validates against the same model with those left empty.
READABLE_SCHEMA_VERSIONS = (1, 2)

#: Requests in flight per endpoint (base_url) unless a model sets `concurrency`.
DEFAULT_CONCURRENCY = 16

#: Where the SQLite cache lives, relative to the pytest rootdir.
DEFAULT_CACHE_DIR = ".deltajudge"

#: Where reports go when neither config nor the command line says.
DEFAULT_REPORT_DIR = "reports/latest"

#: Seconds for one attempt at an HTTP request before it counts as timed out: long enough
#: for a judge's few hundred tokens on a busy endpoint, short enough that a hung endpoint
#: is noticed (the circuit breaker marks it down after the first round of timeouts).
DEFAULT_TIMEOUT_S = 60.0

#: Seconds to open a connection: an endpoint that cannot be reached says so quickly.
DEFAULT_CONNECT_TIMEOUT_S = 10.0

#: Retries of a transient failure (429, 5xx, dropped connection, unusable body), made by
#: `generation.health` (the SDK's own are off), honouring Retry-After with jitter.
DEFAULT_MAX_RETRIES = 4

#: Re-asks of a judge reply with no usable verdict, unless a grader's ``output.retries``
#: says otherwise; each re-ask differs from the first ask (see judging/asking.py).
JUDGE_PARSE_RETRIES = 1

#: Environment variable that holds the API key unless a model says otherwise.
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

#: Bootstrap resamples for confidence intervals, and the seed that makes them reproducible.
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20240611
CONFIDENCE = 0.95

#: `deltajudge init`'s non-inferiority margin, as a fraction of the grader's score range
#: (0.2 points on 0–4): the candidate may be at most this much worse, with confidence.
DEFAULT_NOT_WORSE_MARGIN = 0.05
