"""Several processes sharing one account's rate limit, with no coordination service.

    python -m benchmarks.shared_budget --processes 4 [--latency 1.0] [--limit-scale 1]

Part 1 (plain processes): ``--processes`` spawned interpreters, each with its own ``AhaClient``,
extract the features of a different product of ONE sandbox at the same time (they import,
then all start at the same wall-clock instant). The only thing they share is the server's
``X-Ratelimit-Remaining``/``X-Ratelimit-Reset`` headers. Measured: total records, total
requests, 429s and their share, the span from the first request arrival to the last (plus one
latency), efficiency = lower bound of all requests under one budget / span, and the admitted
request rate as a share of the sustained ceiling of 300/min. (For a job of one minute's budget
the two differ by up to 4x: the bound lets 300 requests go out in 15 bursts over 14 s.)

Part 2 (Dagster): the same extraction through Dagster itself: ``build_aha_assets(
streams=["features"], product_partitions=[...])`` gives a product-partitioned asset; an asset job
with the multiprocess executor (``max_concurrent=4``) is launched once per partition, all runs at
the same time, each from its own process with ``execute_job`` (what Dagster's default run
launcher does for a backfill: one run worker process per run, and the multiprocess executor runs
the step in a further subprocess). So the 4 partitions' steps run in 4 step processes at once.
The span is taken from the sandbox's request log (first arrival to last arrival + latency),
so the seconds Dagster spends starting processes are reported separately.

Default ``--limit-scale 1`` (real time): ``AhaResource`` has no setting that compresses the
client's windows, so only real time is faithful for the Dagster part. With ``--limit-scale S``
the plain-process part compresses its clients' windows (``AhaClient(time_scale=S)``) while
the Dagster part passes limits ``20*S``/s and ``300*S``/min (same windows) and relies on
header pacing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.common import (
    Column,
    Limits,
    Subprocess,
    efficiency,
    format_table,
    lower_bound,
    mib,
    pages_for,
    wait_for_windows,
    write_json,
)
from benchmarks.sandbox import SandboxCounters, features_truth, start_sandbox
from benchmarks.shared_budget_dagster import init_dagster_home, run_dagster_partition, sleep_until

#: Budget stores compared: none (header pacing only), the host's SQLite file, PostgreSQL.
ALL_STORES = ("process", "host", "postgres")
STARTUP_ALLOWANCE_S = 4.0


def run_product(
    url: str,
    api_key: str,
    *,
    product: str,
    budget_store: str,
    time_scale: float,
    start_at: float,
) -> dict[str, Any]:
    """One process: its own AhaClient (defaults + ``budget_store``) reads one product."""
    from dagster_aha.client import AhaClient, quote_segment

    client = AhaClient(
        base_url=url,
        api_key=api_key,
        budget_store=budget_store,
        backoff_base=0.5 / time_scale,
        backoff_max=30.0 / time_scale,
        time_scale=time_scale,
    )
    late = sleep_until(start_at)
    ids: list[str] = []
    with client:
        t0 = time.time()
        for rec in client.iter_records(f"products/{quote_segment(product)}/features"):
            ids.append(str(rec["id"]))
        t1 = time.time()
        stats = client.stats
        places = client.rate_limiter.places
    return {
        "product": product,
        "records": len(ids),
        "ids": sorted(set(ids)),
        "started": t0,
        "finished": t1,
        "late_start_s": late,
        "client_requests": stats.requests,
        "client_429": stats.rate_limited,
        "places": places,  # places taken in the budget store (long waits for a slot)
    }


# --------------------------------------------------------------------------- harness

COLUMNS = [
    Column("variant", "variant"),
    Column("records", "records", "{:,}"),
    Column("correct", "= truth"),
    Column("requests", "requests"),
    Column("r429", "429s"),
    Column("share_429", "429 share", "{:.1%}"),
    Column("span_s", "span s", "{:.2f}"),
    Column("bound_s", "bound s", "{:.2f}"),
    Column("efficiency", "bound / span", "{:.2f}"),
    Column("of_sustained", "rate / (300/min)", "{:.2f}"),
    Column("real_rps", "req/s (real)", "{:.1f}"),
    Column("overlap", "all running at once", "{:.0%}"),
    Column("wall_s", "wall s (incl. start-up)", "{:.1f}"),
]


def _overlap(intervals: list[tuple[float, float]]) -> float:
    """Fraction of the total span during which every interval is running."""
    if not intervals:
        return 0.0
    start = min(a for a, _ in intervals)
    end = max(b for _, b in intervals)
    common = min(b for _, b in intervals) - max(a for a, _ in intervals)
    return max(0.0, common) / (end - start) if end > start else 0.0


def _span_from_log(
    aha: Any, since: float, latency: float
) -> tuple[float, dict[str, tuple[float, float]]]:
    """(span of arrivals + one latency, per-product (first, last) arrival) from the log."""
    per: dict[str, list[float]] = {}
    for r in aha.requests:
        if r.time < since or not r.path.startswith("products/"):
            continue
        per.setdefault(r.path.split("/")[1], []).append(r.time)
    if not per:
        return 0.0, {}
    first = min(min(v) for v in per.values())
    last = max(max(v) for v in per.values())
    return last - first + latency, {k: (min(v), max(v)) for k, v in per.items()}


def run(
    *,
    processes: int,
    records: int,
    latency: float,
    jitter: float,
    limit_scale: float,
    parts: list[str],
    verbose: bool = True,
    startup_allowance: float = STARTUP_ALLOWANCE_S,
    stores: Sequence[str] = ALL_STORES,
    repeat: bool = True,
) -> dict[str, Any]:
    """Run the selected parts against one sandbox; return the JSON payload.

    Processes import first and start together ``startup_allowance`` seconds after launch
    (three times that for Dagster runs, which import much more). Each part runs once per
    budget store in ``stores``: ``process`` (no store: header pacing), ``host`` (a SQLite
    file in a temporary directory) and ``postgres`` (a private PostgreSQL cluster on
    loopback, started here), each part with stores of its own (empty: its first run has no
    page counts kept). With ``repeat``, a part runs a second time on each store (after the
    windows have cleared): the repeat run of a scheduled job, whose store kept the page counts
    of the first, so its reads start pages 2..k with page 1. (Without a store a new process
    keeps nothing: its repeat would be its first run again.) Every client uses the library
    defaults otherwise.
    """
    limits = Limits(time_scale=limit_scale)
    lat, jit = latency / limit_scale, jitter / limit_scale
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="aha-shared-"))
        pg_url = None
        if "postgres" in stores:
            from dagster_aha.testing.postgres import PostgresCluster

            pg_url = stack.enter_context(PostgresCluster()).url

        def store_urls(part: str) -> dict[str, str]:
            """The stores of one part: its own SQLite file and PostgreSQL database."""
            return {
                "process": "process",
                "host": f"sqlite:///{os.path.join(tmp, f'budget-{part}.sqlite3')}",
                "postgres": _new_database(pg_url, f"budget_{part}") if pg_url else "",
            }

        results, meta = _run_parts(
            tmp,
            store_urls,
            processes,
            records,
            lat,
            jit,
            limits,
            parts,
            stores,
            verbose,
            startup_allowance,
            repeat,
        )
    bound = meta["bound_s"]
    return {
        "benchmark": "shared_budget",
        "processes": processes,
        "records": meta["records"],
        "pages": meta["pages"],
        "latency_s": latency,
        "jitter_s": jitter,
        "limit_scale": limit_scale,
        "bound_s": bound,
        "ceiling_real_rps": meta["pages"] / (bound * limit_scale) if bound > 0 else None,
        "results": results,
        "python": sys.version,
    }


def _at_once(fn: Callable[..., dict[str, Any]], calls: list[dict[str, Any]]) -> list[Any]:
    """``fn(**kwargs)`` for each of ``calls``, each in its own spawned interpreter, all at once.

    Every child's result is collected before a failure is raised: a child that is never read
    from blocks on sending a result larger than the pipe's buffer, and the interpreter waits
    for it at exit (a failed run hung instead of ending)."""
    procs = [Subprocess(fn, kwargs) for kwargs in calls]
    results: list[Any] = []
    failures: list[RuntimeError] = []
    for p in procs:
        try:
            results.append(p.result())
        except RuntimeError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    return results


def _new_database(url: str, name: str) -> str:
    """A new, empty database ``name`` on the cluster of ``url``; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


def _run_parts(
    tmp: str,
    store_urls: Callable[[str], dict[str, str]],
    processes: int,
    records: int,
    lat: float,
    jit: float,
    limits: Limits,
    parts: list[str],
    stores: Sequence[str],
    verbose: bool,
    startup_allowance: float,
    repeat: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    limit_scale = limits.time_scale
    results: list[dict[str, Any]] = []
    with (
        start_sandbox(
            records=records, products=processes, latency=lat, jitter=jit, time_scale=limit_scale
        ) as aha,
    ):
        products = aha.state.records("products")
        if len(products) != processes:
            raise RuntimeError(
                f"--records {records} cannot be split over {processes} products evenly"
            )
        keys = [str(p["reference_prefix"]) for p in products]
        truth = {str(p["reference_prefix"]): features_truth(aha, str(p["id"])) for p in products}
        total_truth = sum(len(v) for v in truth.values())
        n_pages = sum(pages_for(len(v)) for v in truth.values())
        bound = lower_bound(n_pages, limits, lat)
        first = True
        runs = [
            (part, store_name, again)
            for part in parts
            for store_name in stores
            for again in ((False, True) if repeat and store_name != "process" else (False,))
        ]
        urls: dict[str, dict[str, str]] = {}
        for part, store_name, again in runs:
            if part not in urls:
                urls[part] = store_urls(part)
            store = urls[part][store_name]
            run_label = ", repeat run" if again else ""
            if not first:
                wait_for_windows(limits)
            first = False
            before = SandboxCounters.read(aha)
            since = time.time()
            wall0 = time.perf_counter()
            if part == "processes":
                start_at = time.time() + startup_allowance
                outs = _at_once(
                    run_product,
                    [
                        {
                            "url": aha.url,
                            "api_key": aha.api_key,
                            "product": key,
                            "budget_store": store,
                            "time_scale": limit_scale,
                            "start_at": start_at,
                        }
                        for key in keys
                    ],
                )
                correct = all(set(o["ids"]) == truth[o["product"]] for o in outs)
                n_records = sum(o["records"] for o in outs)
                name = (
                    f"{processes} processes, own AhaClient each, budget_store={store_name}"
                    f"{run_label}"
                )
                extra: dict[str, Any] = {
                    "per_process": [{k: v for k, v in o.items() if k != "ids"} for o in outs]
                }
            else:
                # one instance per store: a first run finds no earlier materialization (whose
                # aha/page_counts would make it a repeat run), its repeat run finds its own
                dagster_home = os.path.join(tmp, f"dagster_home_{store_name}")
                if not again:
                    init_dagster_home(dagster_home)
                job_kwargs = {
                    "url": aha.url,
                    "api_key": aha.api_key,
                    "products": keys,
                    "budget_store": store,
                    "requests_per_second": 20 * limit_scale,
                    "requests_per_minute": 300 * limit_scale,
                }
                start_at = time.time() + 3 * startup_allowance
                outs = _at_once(
                    run_dagster_partition,
                    [
                        {
                            "dagster_home": dagster_home,
                            "job_kwargs": job_kwargs,
                            "partition": key,
                            "start_at": start_at,
                        }
                        for key in keys
                    ],
                )
                n_records = sum(o["records"] for o in outs)
                correct = all(o["success"] for o in outs) and all(
                    o["records"] == len(truth[o["partition"]]) for o in outs
                )
                name = (
                    f"Dagster: {processes} partition runs at once, multiprocess executor, "
                    f"AhaResource(budget_store={store_name}){run_label}"
                )
                extra = {"per_run": outs}
            wall = time.perf_counter() - wall0
            delta = SandboxCounters.read(aha) - before
            span, per_product = _span_from_log(aha, since, lat)
            if part == "dagster":
                # seconds from each step's start (its code loaded) to its first request
                for o in outs:
                    arrivals = per_product.get(str(o["partition"]))
                    started = o.get("step_started")
                    o["step_to_first_request_s"] = (
                        arrivals[0] - started if arrivals and started is not None else None
                    )
            res = {
                "variant": name,
                "part": part,
                "budget_store": store_name,
                "repeat_run": again,
                "records": n_records,
                "correct": "yes" if correct and n_records == total_truth else "NO",
                "requests": delta.requests,
                "r429": delta.rate_limited,
                "share_429": delta.rate_limited / delta.requests if delta.requests else 0.0,
                "span_s": span,
                "bound_s": bound,
                "efficiency": efficiency(bound, span),
                # admitted requests per second over the sustained ceiling (300 per minute)
                "of_sustained": (delta.requests - delta.rate_limited)
                / span
                / (limits.per_minute / limits.minute_window)
                if span
                else None,
                "real_rps": (delta.requests - delta.rate_limited) / (span * limit_scale)
                if span
                else None,
                "overlap": _overlap(list(per_product.values())),
                "wall_s": wall,
                "per_product_arrivals": {
                    k: [a - since, b - since] for k, (a, b) in per_product.items()
                },
                "peak_rss_mib": [mib(o.get("peak_rss_bytes")) for o in outs],
                **extra,
            }
            results.append(res)
            if verbose:
                print(f"  {name}: span {span:.2f} s, {delta.rate_limited} 429s", flush=True)
    return results, {"records": total_truth, "pages": n_pages, "bound_s": bound}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.shared_budget", description=__doc__)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--latency", type=float, default=1.0, help="real seconds per response")
    ap.add_argument("--jitter", type=float, default=0.1, help="real seconds, uniform 0..jitter")
    ap.add_argument("--limit-scale", type=float, default=1.0)
    ap.add_argument("--parts", default="processes,dagster", help="processes,dagster or one")
    ap.add_argument("--stores", default=",".join(ALL_STORES), help="process,host,postgres")
    ap.add_argument(
        "--no-repeat", action="store_true", help="no repeat run on the host/PostgreSQL stores"
    )
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - {"processes", "dagster"}:
        ap.error("--parts takes processes and/or dagster")
    stores = [p.strip() for p in args.stores.split(",") if p.strip()]
    if not stores or set(stores) - set(ALL_STORES):
        ap.error(f"--stores takes {','.join(ALL_STORES)}")
    payload = run(
        processes=args.processes,
        records=args.records,
        latency=args.latency,
        jitter=args.jitter,
        limit_scale=args.limit_scale,
        parts=parts,
        stores=stores,
        repeat=not args.no_repeat,
    )
    print(
        f"\n{payload['records']:,} records in {payload['pages']} pages over {args.processes} "
        f"products, latency {args.latency} s + U(0, {args.jitter}) s, limit scale "
        f"{args.limit_scale:g}; one budget: lower bound {payload['bound_s']:.2f} s\n"
    )
    print(format_table(payload["results"], COLUMNS))
    write_json(args.json_path, payload)
    return 0 if all(r["correct"] == "yes" for r in payload["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
