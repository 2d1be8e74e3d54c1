"""A scripted OpenAI-compatible server for tests: deltajudge's own, and yours.

Point the real openai SDK at it instead of mocking the SDK::

    from deltajudge.testing import Reply, Rule, ScriptedServer

    rules = [Rule(judge=True, reply=Reply(json={"reasoning": "on topic", "score": 3}))]
    with ScriptedServer(rules) as server:
        client = AsyncOpenAI(base_url=server.url, api_key="test")
        ...
        assert server.count(path="/v1/chat/completions") == 2

For a separate process (benchmarks, tests that kill clients mid-run)::

    python -m deltajudge.testing --port 0 --latency-ms 200 [--script script.json]

prints ``listening on http://127.0.0.1:PORT/v1`` once ready and serves until SIGTERM.
"""

from ._batch import BatchBackend, BatchScript
from ._embeddings import embed
from ._finetune import FineTuneBackend, FineTuneScript
from ._requests import RecordedRequest
from ._rules import Reply, Rule
from ._script import Script, ScriptError, load_script, parse_script
from .server import ScriptedServer

__all__ = [
    "BatchBackend",
    "BatchScript",
    "FineTuneBackend",
    "FineTuneScript",
    "RecordedRequest",
    "Reply",
    "Rule",
    "Script",
    "ScriptError",
    "ScriptedServer",
    "embed",
    "load_script",
    "parse_script",
]
