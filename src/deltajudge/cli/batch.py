"""``deltajudge batch status``: where a suite's Batch API runs are, from the state file.

Read-only and offline: it shows what the last submit or collect run saw (phase, each
batch's status and request counts); ``deltajudge run --batch collect`` polls for news.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tabulate import tabulate

from deltajudge.generation.batch_state import BatchState
from deltajudge.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["status"], help="status: phase, batches, counts")
    parser.add_argument("--config", type=Path, help="config file (default: deltajudge.toml)")
    parser.add_argument("--cache-dir", help="the cache dir the runs used (default: config's)")


def status(ns: argparse.Namespace) -> int:
    root = Path.cwd()
    cache_dir = ns.cache_dir or load_settings(root, config_file=ns.config).cache_dir
    state = BatchState.load(root / cache_dir)
    print(f"phase: {state.phase()}")
    if not state.batches:
        print("Hint: deltajudge run --batch submit sends a suite's uncached requests")
        return 0
    rows = [
        [r.id, r.alias, r.model, r.phase, r.status, r.completed, r.failed, r.requests]
        for r in state.batches
    ]
    headers = ["batch", "alias", "model", "phase", "status", "completed", "failed", "requests"]
    print(tabulate(rows, headers=headers))
    if state.open_batches():
        print("next: deltajudge run --batch collect (downloads the finished batches)")
    else:
        print(
            "next: deltajudge run --batch submit (batches what is still uncached), or a plain run"
        )
    return 0
