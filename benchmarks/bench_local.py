"""The embedded model's speed: the harness's local path next to a bare client on the same
llama.cpp server, with 1 and 4 request slots, and the bundled suite offline, cold and warm.

    python benchmarks/bench_local.py            # tokens/s, then the bundled suite twice
    python benchmarks/bench_local.py --no-suite # tokens/s only

Tokens/s: the same prompts, greedy, the same token budget, as many requests in flight as
the server has slots (``n_parallel``). "harness" is deltajudge's generation path
(``Caller`` -> openai SDK -> llama.cpp's server on loopback); "bare" is aiohttp posting
the same JSON to the same server. Rounds alternate between the two, and the medians
are compared.
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

import aiohttp
from tabulate import tabulate

from deltajudge.generation.caller import Caller
from deltajudge.generation.local_process import cpu_count
from deltajudge.generation.local_server import (
    LocalServerPool,
    LocalServerSpec,
    embedded_model_path,
)
from deltajudge.generation.request import ModelRequest
from deltajudge.settings import ModelConfig, Settings

PROMPTS = [
    f"Customer: {question}\nFriendly support agent:"
    for question in (
        "My parcel arrived damaged.",
        "How do I reset my password?",
        "Can I change the address on my order?",
        "Do you ship to Canada?",
        "My promo code does not work.",
        "Where is my refund?",
        "Can I pay by bank transfer?",
        "The app crashes when I log in.",
    )
]
MAX_TOKENS = 48
REPO = Path(__file__).resolve().parents[1]
ROUNDS = 5


async def bare_round(url: str, slots: int) -> float:
    limit = asyncio.Semaphore(slots)
    async with aiohttp.ClientSession() as session:

        async def one(prompt: str) -> int:
            body = {"prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0}
            async with limit, session.post(f"{url}/completions", json=body) as response:
                data = await response.json()
            return int(data["usage"]["completion_tokens"])

        started = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(p) for p in PROMPTS)))
    return tokens / (time.perf_counter() - started)


async def harness_round(url: str, slots: int, index: int) -> float:
    config = ModelConfig(
        model="embedded",
        base_url=url,
        api="completions",
        prompt_template="{{ prompt }}",
        params={"temperature": 0, "max_output_tokens": MAX_TOKENS},
        concurrency=slots,
    )
    caller = Caller({"local": config}, Settings(), cache=None)
    try:

        async def one(prompt: str) -> int:
            request = ModelRequest(
                alias="local",
                purpose="generate",
                messages=({"role": "user", "content": prompt},),
                sample_index=index,
            )
            return (await caller.call(request)).usage.completion_tokens

        started = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(p) for p in PROMPTS)))
        return tokens / (time.perf_counter() - started)
    finally:
        await caller.aclose()


def tokens_per_second() -> list[list[object]]:
    rows: list[list[object]] = []
    model = embedded_model_path()
    for slots in (1, 4):
        with LocalServerPool() as pool:
            spec = LocalServerSpec(model_path=model, n_parallel=slots, n_threads=cpu_count())
            url = pool.ensure(spec, alias="bench")
            asyncio.run(bare_round(url, slots))  # warm-up, not counted
            bare, harness = [], []
            for index in range(ROUNDS):
                bare.append(asyncio.run(bare_round(url, slots)))
                harness.append(asyncio.run(harness_round(url, slots, index)))
        b, h = statistics.median(bare), statistics.median(harness)
        rows += [
            [f"n_parallel {slots}: bare aiohttp", f"{b:.1f}", ", ".join(f"{r:.1f}" for r in bare)],
            [f"n_parallel {slots}: harness", f"{h:.1f}", ", ".join(f"{r:.1f}" for r in harness)],
            [f"n_parallel {slots}: harness overhead", f"{b / h - 1:+.1%}", ""],
        ]
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
    headers = ["path", "median tokens/s", f"each of {ROUNDS} rounds"]
    print(tabulate(tokens_per_second(), headers=headers, disable_numparse=True))
    if not args.no_suite:
        print()
        print(tabulate(suite_runs(), headers=["bundled suite, offline", "wall s", "exit"]))


if __name__ == "__main__":
    main()
