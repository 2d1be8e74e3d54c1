"""The embedded model's speed: the harness's local path next to llama.cpp called directly,
and the bundled suite offline, cold and warm.

    python benchmarks/bench_local.py            # tokens/s, then the bundled suite twice
    python benchmarks/bench_local.py --no-suite # tokens/s only

Tokens/s: the same prompts, greedy, the same token budget, one request at a time;
"harness" is deltajudge's generation path (openai SDK -> llama.cpp's OpenAI server on
loopback), "direct" is ``llama_cpp.Llama.create_completion`` in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def direct(model: Path, threads: int) -> tuple[int, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), n_ctx=2048, n_threads=threads, verbose=False)
    llm.create_completion(PROMPTS[0], max_tokens=4)  # warm-up, as the server gets one below
    tokens, started = 0, time.perf_counter()
    for prompt in PROMPTS:
        out = llm.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0.0)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


async def through_harness(url: str) -> tuple[int, float]:
    config = ModelConfig(
        model="embedded",
        base_url=url,
        api="completions",
        prompt_template="{{ prompt }}",
        params={"temperature": 0, "max_output_tokens": MAX_TOKENS},
    )
    caller = Caller({"local": config}, Settings(concurrency=1), cache=None)
    try:

        async def ask(prompt: str, index: int = 0) -> int:
            request = ModelRequest(
                alias="local",
                purpose="generate",
                messages=({"role": "user", "content": prompt},),
                sample_index=index,
            )
            return (await caller.call(request)).usage.completion_tokens

        await ask(PROMPTS[0], index=-1)  # warm-up
        tokens, started = 0, time.perf_counter()
        for prompt in PROMPTS:
            tokens += await ask(prompt)
        return tokens, time.perf_counter() - started
    finally:
        await caller.aclose()


def tokens_per_second() -> list[list[object]]:
    model = embedded_model_path()
    threads = os.cpu_count() or 1
    with LocalServerPool() as pool:
        url = pool.ensure(LocalServerSpec(model_path=model, n_threads=threads), alias="bench")
        served = asyncio.run(through_harness(url))
    plain = direct(model, threads)
    rows = []
    for label, (tokens, seconds) in (
        ("harness (SDK -> local server)", served),
        ("direct Llama", plain),
    ):
        rows.append([label, tokens, f"{seconds:.2f}", f"{tokens / seconds:.1f}"])
    overhead = (plain[0] / plain[1]) / (served[0] / served[1]) - 1
    rows.append(["harness overhead", "", "", f"{overhead:+.1%}"])
    return rows


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
    print(tabulate(tokens_per_second(), headers=["path", "tokens", "seconds", "tokens/s"]))
    if not args.no_suite:
        print()
        print(tabulate(suite_runs(), headers=["bundled suite, offline", "wall s", "exit"]))


if __name__ == "__main__":
    main()
