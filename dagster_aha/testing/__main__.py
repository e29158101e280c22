"""``python -m dagster_aha.testing --port 8765``: serve an AhaSandbox until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from dagster_aha.testing.server import AhaSandbox


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_aha.testing",
        description="Serve a local, stateful Aha! API v1 sandbox on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="extra random delay")
    parser.add_argument("--no-rate-limits", action="store_true", help="do not send 429s")
    parser.add_argument("--requests-per-second", type=int, default=20)
    parser.add_argument("--requests-per-minute", type=int, default=300)
    parser.add_argument("--products", type=int, default=2)
    parser.add_argument("--releases-per-product", type=int, default=3)
    parser.add_argument("--features-per-release", type=int, default=40)
    parser.add_argument("--data", help="start from a snapshot written by AhaSandbox.dump()")
    parser.add_argument("--dump-on-exit", help="write a snapshot to this file when stopping")
    parser.add_argument(
        "--api-key", default="sandbox-key", help="the key clients must send (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    sandbox = AhaSandbox(
        api_key=args.api_key,
        seed=args.seed,
        products=args.products,
        releases_per_product=args.releases_per_product,
        features_per_release=args.features_per_release,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        requests_per_second=args.requests_per_second,
        requests_per_minute=args.requests_per_minute,
        enforce_rate_limits=not args.no_rate_limits,
        port=args.port,
        data=args.data,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with sandbox:
        print(
            f"Aha! sandbox serving {sandbox.url} (API: {sandbox.url}/api/v1/; Ctrl+C to stop)\n"
            f"  base_url: {sandbox.url}\n"
            f"  api_key:  {sandbox.api_key}\n"
            f'  e.g. AhaResource(base_url="{sandbox.url}", api_key="{sandbox.api_key}")',
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        if args.dump_on_exit:
            sandbox.dump(args.dump_on_exit)
    print("Aha! sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
