"""Extraction at the rate-limit ceiling: dagster_aha's ``AhaClient.iter_records`` against a
naive sequential ``requests`` loop and dlt's ``rest_api`` source, on one ``AhaSandbox``.

    python -m benchmarks.extract --records 60000 --latency 1.0 --jitter 0.1 --limit-scale 10

The sandbox enforces 20 requests/s and 300 requests/min. ``--limit-scale S`` compresses time:
the sandbox's windows become ``1/S`` s and ``60/S`` s (same counts), latency and jitter are
divided by ``S``, and the client paces in the same compressed time (its ``RateLimiter`` gets
windows ``1/S`` and ``60/S``; header pacing reads the sandbox's float epoch
``X-Ratelimit-Reset``). Ratios (efficiency, speed-ups) are therefore those of the real limits;
"real s" columns multiply measured seconds by ``S``.

Each variant runs in its own spawned interpreter (peak RSS is that variant's, library imports
included) and starts with both windows empty (the harness waits one minute-window between
variants). Records are checked against the sandbox's own data (count and ids).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

from benchmarks.common import (
    Column,
    Limits,
    Stopwatch,
    efficiency,
    format_table,
    lower_bound,
    mib,
    pages_for,
    run_in_subprocess,
    wait_for_windows,
    write_json,
)
from benchmarks.sandbox import SandboxCounters, features_truth, start_sandbox

PATH = "features"
RECORD_KEY = "features"
PER_PAGE = 200


def ids_digest(ids: Iterable[str]) -> str:
    """Order-independent fingerprint of a set of record ids."""
    h = hashlib.sha256()
    for i in sorted(ids):
        h.update(i.encode())
        h.update(b"\n")
    return h.hexdigest()


def _summary(ids: list[str]) -> dict[str, Any]:
    return {"records": len(ids), "unique_ids": len(set(ids)), "ids_sha256": ids_digest(set(ids))}


# --------------------------------------------------------------------------- variants
# Module-level so that they can run in a spawned subprocess. Each returns a dict with
# records/unique_ids/ids_sha256/wall_s and variant-specific figures.


def run_aha_client(
    url: str,
    api_key: str,
    *,
    time_scale: float,
    max_concurrency: int | None = None,
    known_pages: int | None = None,
    path: str = PATH,
    per_second: int = 20,
    per_minute: int = 300,
) -> dict[str, Any]:
    """``AhaClient.iter_records`` with default settings (``max_concurrency`` only when given)
    and, when time is compressed, ``time_scale=S`` (windows 1/S s and 60/S s).

    ``known_pages`` plays "a previous read of this list had that many pages": the page count
    the client keeps per list (in the process, or in a budget store for the next run) is set
    before the measured read, as after an earlier read of the same list.
    """
    from dagster_aha.client import AhaClient
    from dagster_aha.client.prefetch import PageHints, page_hints

    options: dict[str, Any] = {}
    if max_concurrency is not None:
        options["max_concurrency"] = max_concurrency
    client = AhaClient(
        base_url=url,
        api_key=api_key,
        requests_per_second=per_second,
        requests_per_minute=per_minute,
        backoff_base=0.5 / time_scale,
        backoff_max=30.0 / time_scale,
        time_scale=time_scale,
        **options,
    )
    if known_pages is not None:
        hints = page_hints(client.base_url, client.rate_limiter.store)
        hints.set(PageHints.key(path, {}, PER_PAGE), known_pages)
    ids: list[str] = []
    with client, Stopwatch() as sw:
        for rec in client.iter_records(path, per_page=PER_PAGE):
            ids.append(str(rec["id"]))
    stats = client.stats
    out = _summary(ids)
    out.update(
        wall_s=sw.elapsed,
        client_requests=stats.requests,
        client_retries=stats.retries,
        client_429=stats.rate_limited,
        limiter_wait_s=client.rate_limiter.total_wait,
    )
    return out


def run_naive(url: str, api_key: str, *, time_scale: float, path: str = PATH) -> dict[str, Any]:
    """What a user writes first: one ``requests`` call per page until ``total_pages``.

    The only concession is a sleep-and-retry on 429 (until ``X-Ratelimit-Reset``), so that a
    rate-limited run finishes instead of crashing.
    """
    import requests

    ids: list[str] = []
    got_429 = 0
    with requests.Session() as s, Stopwatch() as sw:
        s.headers["Authorization"] = f"Bearer {api_key}"
        page = 1
        while True:
            resp = s.get(
                f"{url}/api/v1/{path}", params={"page": page, "per_page": PER_PAGE}, timeout=60
            )
            if resp.status_code == 429:
                got_429 += 1
                reset = float(resp.headers.get("X-Ratelimit-Reset", "0") or 0)
                time.sleep(max(0.0, min(reset - time.time(), 60.0 / time_scale)) or 0.1)
                continue
            resp.raise_for_status()
            body = resp.json()
            records = body[RECORD_KEY]
            ids.extend(str(r["id"]) for r in records)
            pag = body.get("pagination") or {}
            if isinstance(pag, list):
                pag = pag[0] if pag else {}
            if not records or page >= int(pag.get("total_pages") or 0):
                break
            page += 1
    out = _summary(ids)
    out.update(wall_s=sw.elapsed, client_429=got_429)
    return out


def dlt_config(url: str, api_key: str, path: str = PATH) -> dict[str, Any]:
    """dlt ``rest_api`` configured correctly for Aha! (a ``RESTAPIConfig`` dict)."""
    return {
        "client": {
            "base_url": f"{url}/api/v1/",
            "auth": {"type": "bearer", "token": api_key},
            "paginator": {
                "type": "page_number",
                "base_page": 1,
                "page_param": "page",
                "total_path": "pagination.total_pages",
            },
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "replace",
            "endpoint": {"params": {"per_page": PER_PAGE}},
        },
        "resources": [
            {"name": RECORD_KEY, "endpoint": {"path": path, "data_selector": RECORD_KEY}},
        ],
    }


def run_dlt(url: str, api_key: str, *, workdir: str, path: str = PATH) -> dict[str, Any]:
    """dlt ``rest_api_source`` -> ``pipeline.run`` into DuckDB in ``workdir``."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no network but loopback
    os.environ.setdefault("DLT_DATA_DIR", os.path.join(workdir, "dlt_data"))
    import dlt
    from dlt.sources.rest_api import rest_api_source

    db_path = os.path.join(workdir, "dlt_bench.duckdb")
    pipeline = dlt.pipeline(
        pipeline_name="aha_bench",
        pipelines_dir=os.path.join(workdir, "pipelines"),
        destination=dlt.destinations.duckdb(db_path),
        dataset_name="aha_features",
    )
    source = rest_api_source(dlt_config(url, api_key, path))  # type: ignore[arg-type]
    with Stopwatch() as sw:
        pipeline.run(source)
    steps: dict[str, float] = {}
    trace = pipeline.last_trace
    for step in trace.steps if trace else []:
        if step.finished_at is not None and step.started_at is not None:
            steps[f"dlt_{step.step}_s"] = (step.finished_at - step.started_at).total_seconds()
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql(f"select id from {RECORD_KEY}")
    out = _summary([str(r[0]) for r in rows or []])
    out.update(wall_s=sw.elapsed, **steps)
    return out


# --------------------------------------------------------------------------- harness

COLUMNS = [
    Column("variant", "variant"),
    Column("records", "records", "{:,}"),
    Column("correct", "= truth"),
    Column("requests", "requests"),
    Column("r429", "429s"),
    Column("wall_s", "wall s", "{:.2f}"),
    Column("real_wall_s", "wall real s", "{:.1f}"),
    Column("bound_s", "bound s", "{:.2f}"),
    Column("efficiency", "efficiency", "{:.2f}"),
    Column("real_rps", "records/s (real)", "{:,.0f}"),
    Column("rss_mib", "peak RSS MiB", "{:.0f}"),
]


def variants(
    selected: list[str], tmp: str, url: str, api_key: str, scale: float, pages: int = 1
) -> list[tuple[str, Any, dict[str, Any]]]:
    table: dict[str, tuple[str, Any, dict[str, Any]]] = {
        "aha-default": (
            "AhaClient, defaults, first read",
            run_aha_client,
            {"url": url, "api_key": api_key, "time_scale": scale},
        ),
        "aha-tuned": (
            "AhaClient, defaults, repeat read (page count known)",
            run_aha_client,
            {"url": url, "api_key": api_key, "time_scale": scale, "known_pages": pages},
        ),
        "aha-fixed4": (
            "AhaClient, max_concurrency=4 (the old default)",
            run_aha_client,
            {"url": url, "api_key": api_key, "time_scale": scale, "max_concurrency": 4},
        ),
        "naive": (
            "naive requests loop",
            run_naive,
            {"url": url, "api_key": api_key, "time_scale": scale},
        ),
        "dlt": (
            "dlt rest_api -> duckdb",
            run_dlt,
            {"url": url, "api_key": api_key, "workdir": tmp},
        ),
    }
    return [table[name] for name in selected]


ALL_VARIANTS = ["aha-default", "aha-tuned", "aha-fixed4", "naive", "dlt"]


def run(
    *,
    records: int,
    latency: float,
    jitter: float,
    limit_scale: float,
    selected: list[str],
    products: int = 4,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the selected variants against one sandbox; return the JSON payload."""
    limits = Limits(time_scale=limit_scale)
    lat = latency / limit_scale
    jit = jitter / limit_scale
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="aha-bench-") as tmp,
        start_sandbox(
            records=records, products=products, latency=lat, jitter=jit, time_scale=limit_scale
        ) as aha,
    ):
        truth = features_truth(aha)
        truth_digest = ids_digest(truth)
        n_pages = pages_for(len(truth), PER_PAGE)
        bound = lower_bound(n_pages, limits, lat)
        for i, (label, fn, kwargs) in enumerate(
            variants(selected, tmp, aha.url, aha.api_key, limit_scale, n_pages)
        ):
            if i:
                wait_for_windows(limits)
            before = SandboxCounters.read(aha)
            res = run_in_subprocess(fn, kwargs)
            delta = SandboxCounters.read(aha) - before
            res.update(
                variant=label,
                correct="yes"
                if res["ids_sha256"] == truth_digest and res["records"] == len(truth)
                else "NO",
                requests=delta.requests,
                r429=delta.rate_limited,
                bound_s=bound,
                efficiency=efficiency(bound, res["wall_s"]),
                real_wall_s=res["wall_s"] * limit_scale,
                real_rps=res["records"] / (res["wall_s"] * limit_scale) if res["wall_s"] else None,
                rss_mib=mib(res["peak_rss_bytes"]),
            )
            results.append(res)
            if verbose:
                print(f"  {label}: {res['wall_s']:.2f} s, {res['records']} records", flush=True)
    by_key = dict(zip(selected, results, strict=True))
    ratios: dict[str, float] = {}
    for fast in ("aha-default", "aha-tuned"):
        for slow in ("naive", "dlt"):
            if fast in by_key and slow in by_key:
                ratios[f"{fast}_vs_{slow}"] = by_key[slow]["wall_s"] / by_key[fast]["wall_s"]
    return {
        "benchmark": "extract",
        "records": len(truth),
        "pages": n_pages,
        "latency_s": latency,
        "jitter_s": jitter,
        "limit_scale": limit_scale,
        "bound_s": bound,
        "bound_real_s": bound * limit_scale,
        "speedups": ratios,
        "results": results,
        "python": sys.version,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.extract", description=__doc__)
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--latency", type=float, default=1.0, help="real seconds per response")
    ap.add_argument("--jitter", type=float, default=0.1, help="real seconds, uniform 0..jitter")
    ap.add_argument("--limit-scale", type=float, default=10.0)
    ap.add_argument("--products", type=int, default=4)
    ap.add_argument(
        "--variants",
        default=",".join(ALL_VARIANTS),
        help=f"comma-separated subset of {','.join(ALL_VARIANTS)}",
    )
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args(argv)
    selected = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(selected) - set(ALL_VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}")
    payload = run(
        records=args.records,
        latency=args.latency,
        jitter=args.jitter,
        limit_scale=args.limit_scale,
        selected=selected,
        products=args.products,
    )
    print(
        f"\n{payload['records']:,} records = {payload['pages']} pages, latency "
        f"{args.latency} s + U(0, {args.jitter}) s, limit scale {args.limit_scale:g}; "
        f"lower bound {payload['bound_s']:.3f} s ({payload['bound_real_s']:.1f} real s)\n"
    )
    print(format_table(payload["results"], COLUMNS))
    if payload["speedups"]:
        print("\nspeed-ups: " + ", ".join(f"{k} {v:.1f}x" for k, v in payload["speedups"].items()))
    write_json(args.json_path, payload)
    return 0 if all(r["correct"] == "yes" for r in payload["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
