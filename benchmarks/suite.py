"""The whole Performance table in one command, written into the README.

    python -m benchmarks.suite --readme README.md --json suite.json

Real time (no compression), on enforcing ``AhaSandbox``es (20 requests/s, 300/min), every
variant in its own spawned interpreter against its own fresh sandbox (so every variant starts
with empty windows and nobody waits a minute between them):

* extraction (``benchmarks.extract``): 12,000 / 60,000 / 120,000 features at 0.1 / 0.3 /
  1.0 s latency: the defaults (first read), the defaults on a repeat read (page count known),
  the old fixed ``max_concurrency=4``, and the naive loop and dlt beside them (12,000 only:
  they are sequential, 60,000 at 1.0 s would take them 5 minutes each);
* shared budget (``benchmarks.shared_budget``): 4 processes, and 4 Dagster partition runs on
  the multiprocess executor, reading 4 products (60,000 features) at 1.0 s latency with no
  store, the host's SQLite store and a PostgreSQL store; each store twice: a first run (the
  store empty) and a repeat run (the store kept the page counts of the first).

The full run takes about 28 minutes on a quiet 2-core machine; ``--quick`` runs a small grid
for a smoke test. ``--readme`` replaces the text between the ``performance-table`` markers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import extract, shared_budget
from benchmarks.common import write_json

START = "<!-- performance-table:start (python -m benchmarks.suite writes this) -->"
END = "<!-- performance-table:end -->"


@dataclass(frozen=True)
class Cell:
    records: int
    latency: float
    variants: tuple[str, ...]

    @property
    def jitter(self) -> float:
        return min(0.1, round(self.latency / 3, 3))


FULL_GRID = (
    Cell(12_000, 0.1, ("aha-default", "aha-tuned", "aha-fixed4", "naive")),
    Cell(12_000, 0.3, ("aha-default", "aha-tuned", "aha-fixed4", "naive")),
    Cell(12_000, 1.0, ("aha-default", "aha-tuned", "aha-fixed4", "naive", "dlt")),
    Cell(60_000, 0.3, ("aha-default", "aha-tuned")),
    Cell(60_000, 1.0, ("aha-default", "aha-tuned", "aha-fixed4")),
    Cell(120_000, 0.3, ("aha-default",)),
    Cell(120_000, 1.0, ("aha-default",)),
)
QUICK_GRID = (Cell(2_000, 0.05, ("aha-default", "aha-tuned", "naive")),)

LABELS = {
    "aha-default": "defaults, first read",
    "aha-tuned": "defaults, repeat read",
    "aha-fixed4": "`max_concurrency=4` (old default)",
    "naive": "naive loop",
    "dlt": "dlt rest_api",
}


def run_extraction(grid: tuple[Cell, ...], scale: float, verbose: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for cell in grid:
        for variant in cell.variants:
            payload = extract.run(
                records=cell.records,
                latency=cell.latency,
                jitter=cell.jitter,
                limit_scale=scale,
                selected=[variant],
                verbose=False,
            )
            (res,) = payload["results"]
            row = {
                "records": cell.records,
                "latency": cell.latency,
                "jitter": cell.jitter,
                "variant": variant,
                "label": LABELS[variant],
                "pages": payload["pages"],
                "bound_s": payload["bound_s"] * scale,
                "wall_s": res["wall_s"] * scale,
                "efficiency": res["efficiency"],
                "requests": res["requests"],
                "r429": res["r429"],
                "correct": res["correct"],
                "rss_mib": res["rss_mib"],
            }
            rows.append(row)
            if verbose:
                print(
                    f"  {cell.records:>7,} @ {cell.latency} s  {LABELS[variant]:<36} "
                    f"wall {row['wall_s']:7.2f} s  eff {row['efficiency']:.2f}  "
                    f"429s {row['r429']}  {row['correct']}",
                    flush=True,
                )
    return rows


def run_shared(records: int, latency: float, scale: float, verbose: bool) -> dict[str, Any]:
    return shared_budget.run(
        processes=4,
        records=records,
        latency=latency,
        jitter=min(0.1, latency / 3),
        limit_scale=scale,
        parts=["processes", "dagster"],
        stores=("process", "host", "postgres"),
        verbose=verbose,
    )


def _fmt(x: float | None, spec: str = "{:.2f}") -> str:
    return "-" if x is None else spec.format(x)


def render(extraction: list[dict[str, Any]], shared: dict[str, Any] | None, meta: str) -> str:
    out = [
        meta,
        "",
        "| features | latency | variant | wall s | bound s | efficiency | 429s | requests |"
        " = truth |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in extraction:
        eff = _fmt(r["efficiency"])
        out.append(
            f"| {r['records']:,} | {r['latency']} s | {r['label']} | {r['wall_s']:.2f} | "
            f"{r['bound_s']:.2f} | {eff} | {r['r429']} | {r['requests']} | {r['correct']} |"
        )
    if shared is not None:
        out += [
            "",
            f"Shared budget: 4 products, {shared['records']:,} features ({shared['pages']} pages),"
            f" latency {shared['latency_s']} s; one budget: bound {shared['bound_s']:.2f} s.",
            "",
            "| variant | requests | 429s (share) | span s | efficiency (bound / span) | = truth |",
            "|---|---|---|---|---|---|",
        ]
        for r in shared["results"]:
            out.append(
                f"| {r['variant']} | {r['requests']} | {r['r429']} ({r['share_429']:.1%}) | "
                f"{r['span_s']:.2f} | {_fmt(r['efficiency'])} | {r['correct']} |"
            )
    return "\n".join(out)


def write_readme(path: Path, table: str) -> None:
    text = path.read_text("utf-8")
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        pattern = re.escape(START) + r".*?" + re.escape(END)
        text = re.sub(pattern, lambda _m: block, text, flags=re.S)
    else:
        raise SystemExit(f"{path}: no performance-table markers ({START} ... {END})")
    path.write_text(text, "utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a small grid (smoke test)")
    ap.add_argument("--limit-scale", type=float, default=1.0)
    ap.add_argument("--no-shared", action="store_true", help="skip the shared-budget part")
    ap.add_argument("--readme", type=Path, help="write the table into this README")
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--from-json", type=Path, help="render a previous run's JSON (no run)")
    args = ap.parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text("utf-8"))
        table = render(data["extraction"], data["shared"], data["meta"])
        print(table)
        if args.readme:
            write_readme(args.readme, table)
        return 0
    t0 = time.time()
    grid = QUICK_GRID if args.quick else FULL_GRID
    extraction = run_extraction(grid, args.limit_scale, verbose=True)
    shared = None
    if not args.no_shared:
        shared = run_shared(
            4_000 if args.quick else 60_000, 0.05 if args.quick else 1.0, args.limit_scale, True
        )
    minutes = (time.time() - t0) / 60
    meta = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))} in {minutes:.1f} min"
        f" by `python -m benchmarks.suite{' --quick' if args.quick else ''}` (limit scale "
        f"{args.limit_scale:g}, Python {sys.version.split()[0]}); jitter U(0, min(0.1, "
        "latency/3)) s."
    )
    table = render(extraction, shared, meta)
    print("\n" + table)
    write_json(args.json_path, {"extraction": extraction, "shared": shared, "meta": meta})
    if args.readme:
        write_readme(args.readme, table)
    ok = all(r["correct"] == "yes" for r in extraction) and (
        shared is None or all(r["correct"] == "yes" for r in shared["results"])
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
