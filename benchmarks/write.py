"""Writes at the rate-limit ceiling: ``write_records`` with the ``create_feature`` template.

    python -m benchmarks.write --records 1000 --latency 0.3 --jitter 0.1 --limit-scale 10

Every record is one ``POST releases/{release_id}/features`` (no look-ups), so the lower bound
is the earliest schedule of ``--records`` requests under both windows plus one latency (see
``benchmarks.common``): for 1,000 writes, three full minutes of 300 plus 100 more, i.e.
``184 s + latency`` in real time. Each variant runs in its own subprocess and writes features
with its own name prefix; afterwards the sandbox's features are counted per name: duplicates
(a name created more than once) must be 0 and every record must be created exactly once.

The ``sync`` variant measures what the write ledger saves (syncing only what changed): one
``match_on`` upsert destination with a ledger, run four times over the same ``--records`` rows:
the first run creates them; the second run of the same rows must make **0** write requests
(and 0 look-ups: the ledger knows every request); with ``--changed-percent`` (1 %) of the rows
changed it must make exactly that many writes, plus the look-up pages of the one scope listing
the changed rows need (stated in the table: one page per 200 features of the release, those of
the other variants included); a ``mode="mirror"`` run whose input lost
``--removed`` (50) rows must make exactly that many deletes. Requests are counted on the
sandbox, by method.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Column,
    Limits,
    Stopwatch,
    efficiency,
    format_table,
    lower_bound,
    mib,
    run_in_subprocess,
    wait_for_windows,
    write_json,
)
from benchmarks.sandbox import SandboxCounters

TUNED_CONCURRENCY = 24


def make_records(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix} {i:05d}", "description": f"<p>Benchmark feature {i}</p>"}
        for i in range(n)
    ]


def run_writes(
    url: str,
    api_key: str,
    *,
    release_id: str,
    prefix: str,
    records: int,
    max_concurrency: int,
    time_scale: float,
    per_second: int = 20,
    per_minute: int = 300,
) -> dict[str, Any]:
    """``write_records(client, AhaDestination(template="create_feature"), records)``."""
    from dagster_aha.client import AhaClient
    from dagster_aha.destinations import AhaDestination, write_records

    client = AhaClient(
        base_url=url,
        api_key=api_key,
        max_concurrency=max_concurrency,
        requests_per_second=per_second,
        requests_per_minute=per_minute,
        backoff_base=0.5 / time_scale,
        backoff_max=30.0 / time_scale,
        time_scale=time_scale,
    )
    destination = AhaDestination(template="create_feature", path_params={"release_id": release_id})
    items = make_records(records, prefix)
    with client, Stopwatch() as sw:
        report = write_records(client, destination, items)
    return {
        "wall_s": sw.elapsed,
        "outcomes": report.counts,
        "engine_requests": report.requests,
        "client_attempts": report.http_attempts,
        "client_429": report.rate_limited,
        "created_ids": len(set(report.created_ids)),
    }


COLUMNS = [
    Column("variant", "variant"),
    Column("records", "records", "{:,}"),
    Column("created", "created"),
    Column("duplicates", "duplicates"),
    Column("missing", "missing"),
    Column("requests", "requests"),
    Column("r429", "429s"),
    Column("wall_s", "wall s", "{:.2f}"),
    Column("real_wall_s", "wall real s", "{:.1f}"),
    Column("bound_s", "bound s", "{:.2f}"),
    Column("efficiency", "efficiency", "{:.2f}"),
    Column("real_wpm", "writes/min (real)", "{:.0f}"),
    Column("rss_mib", "peak RSS MiB", "{:.0f}"),
]

ALL_VARIANTS = ["aha-default", "aha-tuned", "sync"]
WRITE_VARIANTS = ["aha-default", "aha-tuned"]

SYNC_COLUMNS = [
    Column("phase", "phase"),
    Column("records", "input rows", "{:,}"),
    Column("writes", "write requests"),
    Column("expected", "expected writes"),
    Column("lookups", "look-ups (GET)"),
    Column("rejected_429", "429s (retried)"),
    Column("outcomes", "outcomes"),
    Column("ok", "ok"),
]


def sync_records(n: int, prefix: str, changed: int = 0) -> list[dict[str, Any]]:
    rows = [
        {"name": f"{prefix} {i:05d}", "ext": f"{prefix}-{i}", "description": f"<p>Row {i}</p>"}
        for i in range(n)
    ]
    step = max(1, n // changed) if changed else 0
    for k in range(changed):
        rows[k * step]["description"] = f"<p>Row {k * step}, changed</p>"
    return rows


def run_sync_phases(
    aha: Any,
    *,
    release_id: str,
    records: int,
    changed_percent: float,
    removed: int,
    ledger_path: str,
    prefix: str = "sync",
) -> list[dict[str, Any]]:
    """The four runs of the ``sync`` variant (see the module doc), in this process."""
    from dagster_aha.destinations import AhaDestination, WriteLedger, write_records

    changed = max(1, round(records * changed_percent / 100)) if changed_percent > 0 else 0
    removed = max(0, min(removed, records // 2))
    common: dict[str, Any] = {
        "template": "create_feature",
        "path_params": {"release_id": release_id},
        "custom_fields": {"ext": "external_id"},
        "match_on": "custom_fields.external_id",
    }
    upsert = AhaDestination(**common, mode="upsert", max_concurrency=TUNED_CONCURRENCY)
    mirror = AhaDestination(
        **common, mode="mirror", allow_delete=True, max_concurrency=TUNED_CONCURRENCY
    )
    base = sync_records(records, prefix)
    edited = sync_records(records, prefix, changed)
    phases = [
        ("first run: every row new", upsert, base, records),
        ("second run, same rows", upsert, base, 0),
        (f"{changed_percent:g} % of the rows changed", upsert, edited, changed),
        (f"mirror: {removed} rows left the upstream", mirror, edited[removed:], removed),
    ]
    out: list[dict[str, Any]] = []
    with WriteLedger(ledger_path) as ledger, aha.client(max_concurrency=TUNED_CONCURRENCY) as c:
        for label, dest, rows, expected in phases:
            start = len(aha.requests)
            report = write_records(c, dest, rows, ledger=ledger, run_id=label)
            seen = aha.requests[start:]
            # a write answered 429 was rejected (not applied) and retried: not counted
            writes = sum(1 for r in seen if r.method != "GET" and r.status != 429)
            counts = {k: v for k, v in report.counts.items() if v}
            out.append(
                {
                    "phase": label,
                    "records": len(rows),
                    "writes": writes,
                    "expected": expected,
                    "lookups": sum(1 for r in seen if r.method == "GET" and r.status != 429),
                    "rejected_429": sum(1 for r in seen if r.status == 429),
                    "deletes": sum(1 for r in seen if r.method == "DELETE"),
                    "outcomes": ", ".join(f"{k} {v}" for k, v in counts.items()),
                    "counts": counts,
                    "ok": "yes" if writes == expected and report.ok else "NO",
                }
            )
    return out


def run(
    *,
    records: int,
    latency: float,
    jitter: float,
    limit_scale: float,
    selected: list[str],
    verbose: bool = True,
    changed_percent: float = 1.0,
    removed: int = 50,
) -> dict[str, Any]:
    from dagster_aha.testing import AhaSandbox

    limits = Limits(time_scale=limit_scale)
    lat, jit = latency / limit_scale, jitter / limit_scale
    bound = lower_bound(records, limits, lat)
    concurrency = {"aha-default": 4, "aha-tuned": TUNED_CONCURRENCY}
    results: list[dict[str, Any]] = []
    sync: list[dict[str, Any]] = []
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=1,
        latency=lat,
        latency_jitter=jit,
        time_scale=limit_scale,
    ) as aha:
        release = aha.state.records("releases")[0]
        for i, name in enumerate(v for v in selected if v in WRITE_VARIANTS):
            if i:
                wait_for_windows(limits)
            prefix = f"bench-{name}"
            label = f"write_records create_feature (max_concurrency={concurrency[name]})"
            before = SandboxCounters.read(aha)
            res = run_in_subprocess(
                run_writes,
                {
                    "url": aha.url,
                    "api_key": aha.api_key,
                    "release_id": str(release["reference_num"]),
                    "prefix": prefix,
                    "records": records,
                    "max_concurrency": concurrency[name],
                    "time_scale": limit_scale,
                },
            )
            delta = SandboxCounters.read(aha) - before
            names = Counter(
                str(f.get("name"))
                for f in aha.state.snapshot("features")
                if str(f.get("name", "")).startswith(prefix + " ")
            )
            expected = {r["name"] for r in make_records(records, prefix)}
            res.update(
                variant=label,
                records=records,
                created=sum(names.values()),
                duplicates=sum(n - 1 for n in names.values() if n > 1),
                missing=len(expected - set(names)),
                requests=delta.requests,
                r429=delta.rate_limited,
                bound_s=bound,
                efficiency=efficiency(bound, res["wall_s"]),
                real_wall_s=res["wall_s"] * limit_scale,
                real_wpm=records / (res["wall_s"] * limit_scale) * 60 if res["wall_s"] else None,
                rss_mib=mib(res["peak_rss_bytes"]),
            )
            results.append(res)
            if verbose:
                print(f"  {label}: {res['wall_s']:.2f} s, {res['created']} created", flush=True)
        if "sync" in selected:
            if results:
                wait_for_windows(limits)
            with tempfile.TemporaryDirectory() as tmp:
                sync = run_sync_phases(
                    aha,
                    release_id=str(release["reference_num"]),
                    records=records,
                    changed_percent=changed_percent,
                    removed=removed,
                    ledger_path=str(Path(tmp) / "ledger.sqlite"),
                )
            if verbose:
                for phase in sync:
                    print(f"  sync, {phase['phase']}: {phase['writes']} write(s)", flush=True)
    return {
        "benchmark": "write",
        "records": records,
        "latency_s": latency,
        "jitter_s": jitter,
        "limit_scale": limit_scale,
        "bound_s": bound,
        "bound_real_s": bound * limit_scale,
        "results": results,
        "sync": sync,
        "python": sys.version,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.write", description=__doc__)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.3, help="real seconds per response")
    ap.add_argument("--jitter", type=float, default=0.1, help="real seconds, uniform 0..jitter")
    ap.add_argument("--limit-scale", type=float, default=10.0)
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS))
    ap.add_argument("--changed-percent", type=float, default=1.0, help="sync: rows changed")
    ap.add_argument("--removed", type=int, default=50, help="sync: rows removed (mirror)")
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
        changed_percent=args.changed_percent,
        removed=args.removed,
    )
    print(
        f"\n{args.records:,} creates, latency {args.latency} s + U(0, {args.jitter}) s, limit "
        f"scale {args.limit_scale:g}; lower bound {payload['bound_s']:.3f} s "
        f"({payload['bound_real_s']:.1f} real s)\n"
    )
    if payload["results"]:
        print(format_table(payload["results"], COLUMNS))
    if payload["sync"]:
        print(
            "\nsync (write ledger + match_on upsert; look-ups: the pages of the one scope "
            "listing a changed row needs):\n"
        )
        print(format_table(payload["sync"], SYNC_COLUMNS))
    write_json(args.json_path, payload)
    ok = all(r["duplicates"] == 0 and r["missing"] == 0 for r in payload["results"])
    ok = ok and all(p["ok"] == "yes" for p in payload["sync"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
