"""Separate processes for the exactly-once scenarios (run by path, not collected by pytest).

``python exactly_once_proc.py sandbox --latency 0.02``: serve a small sandbox on 127.0.0.1,
print ``{"url", "api_key"}`` as one JSON line, stop when stdin closes (or on SIGTERM).

``python exactly_once_proc.py write --url U --api-key K --ledger L --records 60 ...``: write
the standard records with a WriteLedger and print the outcome statuses as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

RELEASE = "PRJ1-R-1"


def records(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"name": f"{prefix} {i}", "ext": f"{prefix}-{i}"} for i in range(n)]


def destination(match_on: bool) -> Any:
    from dagster_aha.destinations import AhaDestination

    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id" if match_on else None,
    )


def client(url: str, api_key: str) -> Any:
    from dagster_aha.client import AhaClient

    return AhaClient(
        api_key=api_key,
        base_url=url,
        timeout=10.0,
        max_retries=8,
        backoff_base=0.001,
        backoff_max=0.01,
        requests_per_second=1_000_000,
        requests_per_minute=60_000_000,
    )


def serve(args: argparse.Namespace) -> int:
    from dagster_aha.testing import AhaSandbox

    sandbox = AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        enforce_rate_limits=False,
        requests_per_second=1_000_000,
        requests_per_minute=60_000_000,
        latency=args.latency,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sandbox:
        print(json.dumps({"url": sandbox.url, "api_key": sandbox.api_key}), flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        stop.wait(600)  # a test that forgets the sandbox does not leave it running for long
    return 0


def write(args: argparse.Namespace) -> int:
    from dagster_aha.destinations import WriteLedger, write_records

    ledger = WriteLedger(
        args.ledger,
        heartbeat_timeout=args.heartbeat_timeout,
        settle_seconds=args.settle_seconds,
        wait_seconds=args.wait_seconds,
    )
    with client(args.url, args.api_key) as c:
        report = write_records(
            c,
            destination(args.match_on),
            records(args.records, args.prefix),
            ledger=ledger,
            run_id=args.run_id,
            max_concurrency=args.workers,
        )
    print(
        json.dumps(
            {
                "indices": [o.index for o in report.outcomes],
                "statuses": [o.status for o in report.outcomes],
            }
        ),
        flush=True,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sandbox")
    s.add_argument("--latency", type=float, default=0.0)
    w = sub.add_parser("write")
    w.add_argument("--url", required=True)
    w.add_argument("--api-key", required=True)
    w.add_argument("--ledger", required=True)
    w.add_argument("--records", type=int, default=60)
    w.add_argument("--prefix", default="x")
    w.add_argument("--match-on", action="store_true")
    w.add_argument("--workers", type=int, default=4)
    w.add_argument("--run-id", default="run")
    w.add_argument("--heartbeat-timeout", type=float, default=120.0)
    w.add_argument("--settle-seconds", type=float, default=0.0)
    w.add_argument("--wait-seconds", type=float, default=60.0)
    args = parser.parse_args()
    return serve(args) if args.cmd == "sandbox" else write(args)


if __name__ == "__main__":
    sys.exit(main())
