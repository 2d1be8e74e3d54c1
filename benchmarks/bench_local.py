"""The embedded model's speed: the harness's local path next to llama.cpp called directly,
and the bundled suite offline, cold and warm.

    python benchmarks/bench_local.py            # tokens/s, then the bundled suite twice
    python benchmarks/bench_local.py --no-suite # tokens/s only

Tokens/s: the same prompts, greedy, the same token budget, one request at a time;
"harness" is deltajudge's generation path (openai SDK -> llama.cpp's OpenAI server on
loopback), "direct" is ``llama_cpp.Llama.create_completion`` in this process; each is
measured alone over several rounds and the medians are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tabulate import tabulate

from deltajudge.generation.caller import Caller
from deltajudge.generation.local_server import (
    LocalServerPool,
    LocalServerSpec,
    embedded_model_path,
)
from deltajudge.generation.request import ModelRequest
from deltajudge.settings import ModelConfig, Settings

PROMPTS = [
    "Customer: My parcel arrived damaged.\nFriendly support agent:",
    "Customer: How do I reset my password?\nFriendly support agent:",
    "Customer: Can I change the address on my order?\nFriendly support agent:",
    "Customer: Do you ship to Canada?\nFriendly support agent:",
    "Customer: My promo code does not work.\nFriendly support agent:",
]
MAX_TOKENS = 64
REPO = Path(__file__).resolve().parents[1]


ROUNDS = 5


def direct_rate(llm: Any) -> float:
    tokens, started = 0, time.perf_counter()
    for prompt in PROMPTS:
        out = llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0)
        tokens += out["usage"]["completion_tokens"]
    return tokens / (time.perf_counter() - started)


async def harness_rates(url: str) -> list[float]:
    config = ModelConfig(
        model="embedded",
        base_url=url,
        api="completions",
        prompt_template="{{ prompt }}",
        params={"temperature": 0, "max_output_tokens": MAX_TOKENS},
    )
    caller = Caller({"local": config}, Settings(concurrency=1), cache=None)
    try:

        async def rate(index: int) -> float:
            tokens, started = 0, time.perf_counter()
            for prompt in PROMPTS:  # a new sample index per round: no shared cache entry
                request = ModelRequest(
                    alias="local",
                    purpose="generate",
                    messages=({"role": "user", "content": prompt},),
                    sample_index=index,
                )
                tokens += (await caller.call(request)).usage.completion_tokens
            return tokens / (time.perf_counter() - started)

        await rate(-1)  # warm-up round, not counted
        return [await rate(i) for i in range(ROUNDS)]
    finally:
        await caller.aclose()


def tokens_per_second() -> list[list[object]]:
    """Each path measured alone: llama.cpp's worker threads spin for a while after a
    call, so a model loaded in this process would steal the server's cores."""
    from llama_cpp import Llama

    model = embedded_model_path()
    threads = os.cpu_count() or 1
    with LocalServerPool() as pool:
        url = pool.ensure(LocalServerSpec(model_path=model, n_threads=threads), alias="bench")
        served = asyncio.run(harness_rates(url))
    llm = Llama(model_path=str(model), n_ctx=2048, n_threads=threads, verbose=False)
    direct_rate(llm)  # warm-up round, not counted
    plain = [direct_rate(llm) for _ in range(ROUNDS)]
    harness, bare = statistics.median(served), statistics.median(plain)
    return [
        ["harness (SDK -> local server)", f"{harness:.1f}", ", ".join(f"{r:.1f}" for r in served)],
        ["direct llama_cpp.Llama", f"{bare:.1f}", ", ".join(f"{r:.1f}" for r in plain)],
        ["harness overhead", f"{bare / harness - 1:+.1%}", ""],
    ]


def suite_runs() -> list[list[object]]:
    drop = {"OPENAI_API_KEY", "PYTHONDONTWRITEBYTECODE"}  # offline, bytecode cache as usual
    env = {k: v for k, v in os.environ.items() if k not in drop}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        cmd = [
            sys.executable,
            "-m",
            "deltajudge.cli",
            "run",
            "rubrics/",
            "evals/",
            "--cache-dir",
            cache,
            "--report-dir",
            str(Path(cache) / "reports"),
            "--no-progress",
        ]
        for label in ("cold (empty cache)", "warm (cache full)"):
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            rows.append([label, f"{time.perf_counter() - started:.1f}", done.returncode])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true")
    args = parser.parse_args()
    headers = ["path", "median tokens/s", f"each of {ROUNDS} rounds"]
    print(tabulate(tokens_per_second(), headers=headers, disable_numparse=True))
    if not args.no_suite:
        print()
        print(tabulate(suite_runs(), headers=["bundled suite, offline", "wall s", "exit"]))


if __name__ == "__main__":
    main()
