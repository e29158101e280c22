"""Flattening custom pivot reports: ``PivotListReport.to_rows()`` and
``PivotViewReport.to_rows()`` on synthetic reports of ``--cells`` cells, shaped like Aha!'s
documented examples.

    python -m benchmarks.pivot --cells 100000 [--json out.json]

*List view*: ``rows x 10`` columns; every 5th column is multi-valued (a list of 2 cell
objects, like tags), so ``cells`` counts cell objects.
*Pivot view*: rows nested two levels (product > release), columns = 5 statuses, and per
(row, column) several features of 4 fields each; ``cells`` counts the innermost cell objects.

For each view: JSON bytes, parse time (``json.loads`` + ``model_validate``), flatten time
(``to_rows``; best of ``--repeat``), rows produced, the Python allocation peak of one
``to_rows`` call (tracemalloc, measured separately so it does not slow the timing) and the
peak RSS of the subprocess that ran the view.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from typing import Any

from benchmarks.common import Column, format_table, mib, run_in_subprocess, write_json

LIST_COLUMNS = 10
MULTI_EVERY = 5  # every 5th list column is multi-valued (2 cell objects)
STATUSES = ["New", "Designed", "In development", "Ready to ship", "Shipped"]
FIELDS_PER_FEATURE = 4


def _cell(i: int, value: str, **refs: int) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "id": 1_000_000_000 + i,
        "plain_value": value,
        "html_value": f'<a href="/features/PRJ1-{i}">{value}</a>',
        "rich_value": value,
    }
    cell.update(refs)
    return cell


def make_list_report(cells: int) -> dict[str, Any]:
    """A list-view body with about ``cells`` cell objects."""
    per_row = sum(2 if (c + 1) % MULTI_EVERY == 0 else 1 for c in range(LIST_COLUMNS))
    n_rows = max(1, round(cells / per_row))
    columns = [
        {"table": "features", "field": f"field_{c}", "title": f"Field {c}"}
        for c in range(LIST_COLUMNS)
    ]
    rows: list[list[Any]] = []
    k = 0
    for r in range(n_rows):
        row: list[Any] = []
        for c in range(LIST_COLUMNS):
            if (c + 1) % MULTI_EVERY == 0:
                row.append([_cell(k, f"tag-{r}-{c}-a"), _cell(k + 1, f"tag-{r}-{c}-b")])
                k += 2
            else:
                row.append(_cell(k, f"value {r}/{c}"))
                k += 1
        rows.append(row)
    return {
        "pagination": [{"total_records": n_rows, "total_pages": 1, "current_page": 1}],
        "columns": columns,
        "rows": rows,
    }


def make_view_report(cells: int) -> dict[str, Any]:
    """A pivot-view body with about ``cells`` innermost cell objects."""
    products, releases_per_product = 10, 10
    n_release_rows = products * releases_per_product
    per_group = FIELDS_PER_FEATURE
    groups_per_pair = max(1, round(cells / (n_release_rows * len(STATUSES) * per_group)))
    fd = {
        "1": {"ref": 1, "table": "projects", "field": "name", "title": "Product name"},
        "2": {"ref": 2, "table": "releases", "field": "name", "title": "Release name"},
        "3": {"ref": 3, "table": "features", "field": "status", "title": "Feature status"},
        "4": {"ref": 4, "table": "features", "field": "reference_num", "title": "Feature #"},
        "5": {"ref": 5, "table": "features", "field": "name", "title": "Feature name"},
        "6": {"ref": 6, "table": "features", "field": "assignee", "title": "Assignee"},
        "7": {"ref": 7, "table": "features", "field": "score", "title": "Score"},
    }
    rows: dict[str, Any] = {}
    top_rows: list[int] = []
    ref = 100
    release_refs: list[int] = []
    for p in range(products):
        pref = ref
        ref += 1
        top_rows.append(pref)
        children = list(range(ref, ref + releases_per_product))
        rows[str(pref)] = {
            "ref": pref,
            "parent_ref": None,
            "child_refs": children,
            "id": 131414752 + p,
            "plain_value": f"Product {p}",
            "html_value": f"<a>Product {p}</a>",
            "rich_value": f"Product {p}",
            "field_definition_ref": 1,
        }
        for r, rref in enumerate(children):
            rows[str(rref)] = {
                "ref": rref,
                "parent_ref": pref,
                "child_refs": [],
                "id": 278327321 + rref,
                "plain_value": f"Release {p}.{r}",
                "html_value": f"<a>Release {p}.{r}</a>",
                "rich_value": f"Release {p}.{r}",
                "field_definition_ref": 2,
            }
            release_refs.append(rref)
        ref += releases_per_product
    columns: dict[str, Any] = {}
    for s, status in enumerate(STATUSES):
        columns[str(s + 1)] = {
            "ref": s + 1,
            "parent_ref": None,
            "child_refs": [],
            "id": 934242751 + s,
            "plain_value": status,
            "html_value": f"<span>{status}</span>",
            "rich_value": {"id": 934242751 + s, "name": status, "color": "727272"},
            "field_definition_ref": 3,
        }
    grid: list[Any] = []
    k = 0
    for rref in release_refs:
        per_row: list[Any] = []
        for s in range(len(STATUSES)):
            per_pair: list[Any] = []
            for _ in range(groups_per_pair):
                refs = {"row_ref": rref, "column_ref": s + 1}
                per_pair.append(
                    [
                        _cell(k, f"PRJ1-{k}", field_definition_ref=4, **refs),
                        _cell(k, f"Feature {k}", field_definition_ref=5, **refs),
                        _cell(k, f"user{k % 17}@example.com", field_definition_ref=6, **refs),
                        _cell(k, str(k % 100), field_definition_ref=7, **refs),
                    ]
                )
                k += 1
            per_row.append(per_pair)
        grid.append(per_row)
    return {
        "top_level_columns": list(range(1, len(STATUSES) + 1)),
        "columns": columns,
        "top_level_rows": top_rows,
        "rows": rows,
        "cells": grid,
        "field_definitions": fd,
    }


def count_cells(view: str, body: dict[str, Any]) -> int:
    """Cell objects in a generated body (what ``--cells`` approximates)."""
    if view == "list":
        return sum(len(c) if isinstance(c, list) else 1 for row in body["rows"] for c in row)
    total = 0
    stack: list[Any] = [body["cells"]]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            total += 1
        elif isinstance(node, list):
            stack.extend(node)
    return total


def run_view(view: str, cells: int, repeat: int = 3) -> dict[str, Any]:
    """Generate, serialise, parse and flatten one report; runs in its own subprocess."""
    from dagster_aha.client import PivotListReport, PivotViewReport
    from dagster_aha.client.pagination import parse_pagination

    body = make_list_report(cells) if view == "list" else make_view_report(cells)
    n_cells = count_cells(view, body)
    raw = json.dumps(body).encode()
    del body
    model: type[PivotListReport] | type[PivotViewReport] = (
        PivotListReport if view == "list" else PivotViewReport
    )
    t0 = time.perf_counter()
    parsed = json.loads(raw)
    if view == "list":
        # exactly what AhaClient.get_pivot_report builds from the pages it read
        parsed = {
            "columns": parsed["columns"],
            "rows": parsed["rows"],
            "pagination": parse_pagination(parsed),
        }
    report = model.model_validate(parsed)
    del parsed
    parse_s = time.perf_counter() - t0
    flatten: list[float] = []
    rows: list[dict[str, Any]] = []
    for _ in range(max(1, repeat)):
        rows = []
        t0 = time.perf_counter()
        rows = report.to_rows()
        flatten.append(time.perf_counter() - t0)
    n_rows = len(rows)
    sample = rows[0] if rows else {}
    del rows
    tracemalloc.start()
    again = report.to_rows()
    _, alloc_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again
    return {
        "view": view,
        "cells": n_cells,
        "json_bytes": len(raw),
        "parse_s": parse_s,
        "flatten_s": min(flatten),
        "flatten_runs_s": flatten,
        "rows": n_rows,
        "columns": len(sample),
        "first_row": sample,
        "to_rows_alloc_peak_bytes": alloc_peak,
    }


COLUMNS = [
    Column("view", "view"),
    Column("cells", "cells", "{:,}"),
    Column("rows", "rows out", "{:,}"),
    Column("json_mib", "JSON MiB", "{:.1f}"),
    Column("parse_s", "parse s", "{:.3f}"),
    Column("flatten_s", "to_rows() s", "{:.3f}"),
    Column("alloc_mib", "to_rows alloc MiB", "{:.1f}"),
    Column("rss_mib", "peak RSS MiB", "{:.0f}"),
    Column("target", "< 1 s"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pivot", description=__doc__)
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args(argv)

    results: list[dict[str, Any]] = []
    for view in ("list", "pivot"):
        res = run_in_subprocess(
            run_view, {"view": view, "cells": args.cells, "repeat": args.repeat}
        )
        res["json_mib"] = mib(res["json_bytes"])
        res["alloc_mib"] = mib(res["to_rows_alloc_peak_bytes"])
        res["rss_mib"] = mib(res["peak_rss_bytes"])
        res["target"] = "met" if res["flatten_s"] < 1.0 else "MISSED"
        results.append(res)
    print(format_table(results, COLUMNS))
    write_json(
        args.json_path,
        {"benchmark": "pivot", "args": vars(args), "python": sys.version, "results": results},
    )
    return 0 if all(r["target"] == "met" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
