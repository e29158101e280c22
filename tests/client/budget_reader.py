"""Run as a script by the budget-store tests: one process reading one product's features.

    python budget_reader.py URL API_KEY PRODUCT STORE RPS START_AT

Prints ``ready``, waits for a line on stdin, then prints one JSON line: records, unique ids,
client requests and 429s.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    url, api_key, product, store, rps, start_at = sys.argv[1:7]
    from dagster_aha.client import AhaClient

    client = AhaClient(
        base_url=url,
        api_key=api_key,
        requests_per_second=float(rps),
        requests_per_minute=100_000,
        backoff_base=0.01,
        backoff_max=0.2,
        timeout=20.0,
        budget_store=store,
    )
    print("ready", flush=True)  # the test starts every reader at once, after all imported
    sys.stdin.readline()
    if time.time() > float(start_at):
        raise SystemExit("started too late")
    with client:
        path = f"products/{product}/features"
        ids = [str(r["id"]) for r in client.iter_records(path, per_page=5)]
        stats = client.stats
    print(
        json.dumps(
            {
                "records": len(ids),
                "unique": len(set(ids)),
                "requests": stats.requests,
                "client_429": stats.rate_limited,
            }
        )
    )


if __name__ == "__main__":
    main()
