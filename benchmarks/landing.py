"""Landing benchmark: extraction alone vs extraction + dlt normalize + load into DuckDB.

    python -m benchmarks.landing --records 60000 --records 300000 --json landing.json

The sandbox runs in this (the parent) process, without rate limits or latency (the point is the
cost of landing, not Aha!'s ceiling of 60,000 records/min); each variant runs in its own spawned
interpreter, so its peak RSS is its own, not the sandbox's (which holds every record):

* ``extract``: ``AhaClient.iter_records("features", fields=...)``, records counted and dropped;
* ``land``: ``aha_dlt_source(client, streams=["features"])`` into a fresh DuckDB file through
  ``AhaLanding(...).pipeline()`` with ``AhaLanding.settings()``: what a user of
  ``build_aha_dlt_assets`` / ``AhaLanding.run`` gets by default (write buffers of 1,000 rows,
  DuckDB ``memory_limit`` 128MB, jsonl load files). The extract, normalize and load steps are
  timed separately, with the peak RSS of each (Linux: ``VmHWM`` reset between steps through
  ``/proc/self/clear_refs``); the landed table is then counted (``count(DISTINCT id)`` must
  equal the sandbox's features).

Figures: wall seconds, records/s, normalize+load records/s (the landing's own throughput, to
compare with Aha!'s 1,000 records/s), peak RSS (MiB), whole and per step, and the CPU seconds
of each step (the wall seconds of a shared machine vary; the CPU seconds less).

``--variant reland`` (not run by default) lands once, then measures a ``full_refresh`` load
over the populated table: every row merged again, every landed id compared with the read.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, cast

from benchmarks.common import (
    Column,
    format_table,
    mib,
    peak_rss_bytes,
    run_in_subprocess,
    write_json,
)
from benchmarks.sandbox import start_sandbox

if TYPE_CHECKING:
    from dlt.common.destination import TLoaderFileFormat

VARIANTS = ("extract", "land", "reland")
#: what ``python -m benchmarks.landing`` runs without ``--variant``
DEFAULT_VARIANTS = ("extract", "land")
FIELDS = None  # the stream's default fields= list
#: DuckDB loads jsonl files with its own reader; dlt's default (insert_values) builds SQL text
FILE_FORMAT = os.environ.get("BENCH_LANDING_FORMAT", "jsonl")


def _client(url: str, api_key: str, concurrency: int) -> Any:
    from dagster_aha.client import AhaClient

    return AhaClient(
        base_url=url,
        api_key=api_key,
        requests_per_second=1e9,
        requests_per_minute=1e12,
        max_concurrency=concurrency,
        backoff_base=0.01,
        backoff_max=0.1,
    )


def extract_variant(url: str, api_key: str, concurrency: int) -> dict[str, Any]:
    """Every feature through the client, nothing kept."""
    from dagster_aha.sources.streams import STREAMS, resolve_fields

    stream = STREAMS["features"]
    started = time.monotonic()
    cpu = _cpu_s()
    n = 0
    with _client(url, api_key, concurrency) as client:
        for _ in client.iter_records(
            "features", fields=list(resolve_fields(stream, FIELDS)), record_key="features"
        ):
            n += 1
    wall = time.monotonic() - started
    return {"records": n, "wall_s": wall, "extract_s": wall, "extract_cpu_s": _cpu_s() - cpu}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak_rss() -> bool:
    """Start a new ``VmHWM`` (Linux >= 4.0); False where it cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def land_variant(
    url: str, api_key: str, concurrency: int, workdir: str, reland: bool = False
) -> dict[str, Any]:
    """Every feature landed in a fresh DuckDB file (full load, merge disposition), with the
    package's defaults (``AhaLanding``, ``aha_dlt_source``). ``reland``: land once first
    (not measured), then measure a ``full_refresh`` load over the populated table (every row
    merged again, and the full read's delete check compares every landed id)."""
    from dagster_aha.dlt import AhaLanding, aha_dlt_source

    landing = AhaLanding(
        credentials=os.path.join(workdir, "landed.duckdb"),
        pipelines_dir=os.path.join(workdir, "dlt"),
        pipeline_name="bench_landing",
    )
    pipeline = landing.pipeline()
    if reland:
        with _client(url, api_key, concurrency) as client:
            landing.run(aha_dlt_source(client, streams=["features"]), pipeline=pipeline)
    peaks: dict[str, float | None] = {}
    resets = _reset_peak_rss()

    cpu = [_cpu_s()]

    def step_peak(name: str) -> None:
        peaks[f"{name}_peak_rss_bytes"] = peak_rss_bytes() if resets else None
        _reset_peak_rss()
        cpu.append(_cpu_s())
        peaks[f"{name}_cpu_s"] = cpu[-1] - cpu[-2]

    whole_peak = peak_rss_bytes()
    with _client(url, api_key, concurrency) as client, landing.settings():
        source = aha_dlt_source(client, streams=["features"], full_refresh=reland)
        t0 = time.monotonic()
        file_format = cast("TLoaderFileFormat", landing.loader_file_format or FILE_FORMAT)
        pipeline.extract(source, loader_file_format=file_format)
        t1 = time.monotonic()
        step_peak("extract")
        pipeline.normalize()
        t2 = time.monotonic()
        step_peak("normalize")
        pipeline.load()
        t3 = time.monotonic()
        step_peak("load")
    with pipeline.sql_client() as sql:
        table = sql.make_qualified_table_name("features")
        rows = sql.execute_sql(f"SELECT count(*), count(DISTINCT id) FROM {table}")
    count, distinct = rows[0] if rows else (0, 0)
    step_values = [v for k, v in peaks.items() if k.endswith("_rss_bytes") and v is not None]
    return {
        "records": int(count),
        "distinct": int(distinct),
        "wall_s": t3 - t0,
        "extract_s": t1 - t0,
        "normalize_s": t2 - t1,
        "load_s": t3 - t2,
        **peaks,
        # VmHWM was reset between the steps: the whole run's peak is the largest step's
        # (with reland: of the measured load only)
        "peak_rss_bytes": max([*([] if reland else [whole_peak]), *step_values, peak_rss_bytes()]),
    }


def run(
    *,
    records: int,
    products: int = 4,
    concurrency: int = 8,
    selected: list[str] | None = None,
    verbose: bool = True,
    in_process: bool = False,
) -> dict[str, Any]:
    """Run the variants on a sandbox of ``records`` features; returns the figures.

    ``in_process=True`` (tests) skips the spawned interpreters: same results, but the peak RSS
    is then this process's."""

    def call(fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if not in_process:
            return run_in_subprocess(fn, kwargs)
        out = fn(**kwargs)
        out["peak_rss_bytes"] = max(out.get("peak_rss_bytes", 0), peak_rss_bytes())
        return out

    chosen = list(selected or DEFAULT_VARIANTS)
    results: list[dict[str, Any]] = []
    with start_sandbox(
        records=records,
        products=products,
        latency=0.0,
        jitter=0.0,
        time_scale=1.0,
        enforce_rate_limits=False,
    ) as aha:
        truth = aha.state.count("features")
        for variant in chosen:
            with tempfile.TemporaryDirectory(prefix="bench_landing_") as workdir:
                if variant == "extract":
                    out = call(
                        extract_variant,
                        {"url": aha.url, "api_key": aha.api_key, "concurrency": concurrency},
                    )
                elif variant in ("land", "reland"):
                    out = call(
                        land_variant,
                        {
                            "url": aha.url,
                            "api_key": aha.api_key,
                            "concurrency": concurrency,
                            "workdir": workdir,
                            "reland": variant == "reland",
                        },
                    )
                else:
                    raise ValueError(f"unknown variant {variant!r}")
            wall = out["wall_s"]
            landing_s = out.get("normalize_s", 0.0) + out.get("load_s", 0.0)
            row = {
                "variant": variant,
                "records": out["records"],
                "correct": out["records"] == truth and out.get("distinct", truth) == truth,
                "wall_s": round(wall, 2),
                "records_per_s": round(out["records"] / wall, 1) if wall > 0 else None,
                "normalize_load_s": round(landing_s, 2) if variant != "extract" else None,
                "normalize_load_records_per_s": (
                    round(out["records"] / landing_s, 1)
                    if variant != "extract" and landing_s > 0
                    else None
                ),
                "peak_rss_mib": round(mib(out["peak_rss_bytes"]) or 0.0, 1),
                "extract_s": round(out["extract_s"], 2),
                "extract_cpu_s": _round(out.get("extract_cpu_s")),
                "normalize_cpu_s": _round(out.get("normalize_cpu_s")),
                "load_cpu_s": _round(out.get("load_cpu_s")),
                "normalize_s": _round(out.get("normalize_s")),
                "load_s": _round(out.get("load_s")),
                **{
                    f"{step}_peak_rss_mib": _round(mib(out.get(f"{step}_peak_rss_bytes")), 1)
                    for step in ("extract", "normalize", "load")
                },
            }
            results.append(row)
            if verbose:
                print(f"  {records} features, {variant}: {row}", file=sys.stderr)
    return {"records": records, "concurrency": concurrency, "results": results}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


COLUMNS = [
    Column("records", "records"),
    Column("variant", "variant"),
    Column("correct", "correct"),
    Column("wall_s", "wall s"),
    Column("records_per_s", "records/s"),
    Column("normalize_load_s", "normalize+load s"),
    Column("normalize_load_records_per_s", "normalize+load records/s"),
    Column("peak_rss_mib", "peak RSS MiB"),
    Column("extract_s", "extract s"),
    Column("extract_peak_rss_mib", "extract peak MiB"),
    Column("normalize_s", "normalize s"),
    Column("normalize_peak_rss_mib", "normalize peak MiB"),
    Column("load_s", "load s"),
    Column("load_peak_rss_mib", "load peak MiB"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.landing", description=__doc__)
    parser.add_argument("--records", type=int, action="append", help="features (repeatable)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--variant", action="append", choices=VARIANTS)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    payloads = [
        run(records=n, concurrency=args.concurrency, selected=args.variant)
        for n in (args.records or [60_000])
    ]
    rows = [{**r, "records": p["records"]} for p in payloads for r in p["results"]]
    print(format_table(rows, COLUMNS))
    write_json(args.json, {"runs": payloads})
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
