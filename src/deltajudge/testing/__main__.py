"""``python -m deltajudge.testing``: the scripted server as its own process.

Benchmarks need the server off the client's CPU and event loop, and some tests kill
the client mid-run; both start this and wait for its one stdout line,
``listening on http://127.0.0.1:PORT/v1``. It serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from ._app import ScriptedApp, serve
from ._script import Script, ScriptError, load_script


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m deltajudge.testing",
        description="Serve a scripted OpenAI-compatible API on loopback until SIGTERM/SIGINT.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=None,
        help="added latency per request; overrides the script's latency_ms",
    )
    parser.add_argument("--script", default=None, help="JSON script with latency_ms and rules")
    return parser.parse_args(argv)


async def _serve_until_signalled(app: ScriptedApp, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def announce(bound: int) -> None:
        print(f"listening on http://{host}:{bound}/v1", flush=True)

    await serve(app, host, port, stop, announce)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        script = load_script(args.script) if args.script else Script(rules=())
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    latency_s = script.latency_s if args.latency_ms is None else args.latency_ms / 1000
    if latency_s < 0:
        print("error: --latency-ms must not be negative", file=sys.stderr)
        return 2
    # Nobody can read a separate process's request log, so it keeps none.
    app = ScriptedApp(script.rules, latency_s=latency_s, record=False)
    asyncio.run(_serve_until_signalled(app, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
