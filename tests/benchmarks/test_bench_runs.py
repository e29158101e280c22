"""Each benchmark runs end to end on a tiny input and produces correct records.

Correctness only: no assertion here depends on timing. Time is compressed 100x (windows
0.01 s / 0.6 s) and latency is 0 so that the whole file stays within a few seconds per
benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import extract, pivot, shared_budget, write
from benchmarks.common import run_in_subprocess
from benchmarks.sandbox import features_truth, layout, start_sandbox


def test_layout_gives_exactly_the_requested_records() -> None:
    for records, products in [(60_000, 4), (400, 2), (7, 4), (1, 3)]:
        p, r, f = layout(records, products)
        assert p * r * f == records


def test_extract_aha_and_naive_read_every_feature_once() -> None:
    payload = extract.run(
        records=400,
        latency=0.0,
        jitter=0.0,
        limit_scale=100,
        selected=["aha-default", "naive"],
        products=2,
        verbose=False,
    )
    assert payload["records"] == 400
    assert payload["pages"] == 2
    assert payload["bound_s"] == pytest.approx(0.0)
    by_variant = {r["variant"]: r for r in payload["results"]}
    assert set(by_variant) == {
        "AhaClient, defaults, first read",
        "naive requests loop",
    }
    for res in payload["results"]:
        assert res["correct"] == "yes"
        assert res["records"] == res["unique_ids"] == 400
        assert res["requests"] == 2  # page 1 and page 2 of 200, nothing else
        assert res["r429"] == 0
        assert res["peak_rss_bytes"] > 0
    aha = by_variant["AhaClient, defaults, first read"]
    assert aha["client_requests"] == 2
    assert set(payload["speedups"]) == {"aha-default_vs_naive"}


def test_dlt_rest_api_config_reads_every_page(tmp_path: Path) -> None:
    pytest.importorskip("dlt")
    with start_sandbox(records=450, products=1, latency=0.0, jitter=0.0, time_scale=100) as aha:
        truth = features_truth(aha)
        res = run_in_subprocess(
            extract.run_dlt, {"url": aha.url, "api_key": aha.api_key, "workdir": str(tmp_path)}
        )
        pages = [r.query for r in aha.requests if r.path == "features" and r.status == 200]
    assert res["records"] == 450
    assert res["ids_sha256"] == extract.ids_digest(truth)
    # base page 1, per_page=200, stops at pagination.total_pages (3): no extra request
    assert [(q["page"], q["per_page"]) for q in pages] == [("1", "200"), ("2", "200"), ("3", "200")]


def test_write_creates_each_record_exactly_once() -> None:
    payload = write.run(
        records=25,
        latency=0.0,
        jitter=0.0,
        limit_scale=100,
        selected=["aha-default"],
        verbose=False,
    )
    (res,) = payload["results"]
    assert res["created"] == 25
    assert res["duplicates"] == 0
    assert res["missing"] == 0
    assert res["requests"] == 25  # one POST per record
    assert res["outcomes"]["created"] == 25
    assert payload["bound_s"] == pytest.approx(0.01)  # 25 requests: a second burst of 5


@pytest.mark.parametrize("view", ["list", "pivot"])
def test_pivot_flattens_every_cell(view: str) -> None:
    res = pivot.run_view(view, 2_000, repeat=1)
    assert res["cells"] == pytest.approx(2_000, rel=0.05)
    if view == "list":
        assert res["columns"] == 10
        assert res["rows"] == res["cells"] // 12  # 8 single + 2 double cells per row
        assert res["first_row"]["Field 4"] == "tag-0-4-a, tag-0-4-b"
    else:
        assert res["rows"] == res["cells"] // 4  # 4 fields per feature group
        assert res["first_row"] == {
            "Product name": "Product 0",
            "Release name": "Release 0.0",
            "Feature status": "New",
            "Feature #": "PRJ1-0",
            "Feature name": "Feature 0",
            "Assignee": "user0@example.com",
            "Score": "0",
        }


def test_pivot_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "pivot.json"
    assert pivot.main(["--cells", "1000", "--repeat", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["view"] for r in data["results"]] == ["list", "pivot"]
    assert all(r["rows"] > 0 and r["peak_rss_bytes"] > 0 for r in data["results"])


def test_shared_budget_processes_split_products() -> None:
    payload = shared_budget.run(
        processes=2,
        records=800,
        latency=0.0,
        jitter=0.0,
        limit_scale=100,
        parts=["processes"],
        verbose=False,
        startup_allowance=0.5,
        stores=("process", "host"),
    )
    assert payload["records"] == 800
    # no store, then the host store twice: its repeat run finds the page counts kept
    assert [(r["budget_store"], r["repeat_run"]) for r in payload["results"]] == [
        ("process", False),
        ("host", False),
        ("host", True),
    ]
    assert payload["results"][-1]["variant"].endswith("budget_store=host, repeat run")
    for res in payload["results"]:
        assert res["correct"] == "yes"
        assert res["records"] == 800
        # 2 products x 2 pages of 200: a repeat run's pages 2.. go out with page 1, and none
        # beyond the end
        assert res["requests"] == 4
        assert res["r429"] == 0
        assert {p["product"] for p in res["per_process"]} == {"PRJ1", "PRJ2"}
        assert set(res["per_product_arrivals"]) == {"PRJ1", "PRJ2"}


def test_shared_budget_through_dagster_runs_each_partition_in_its_own_process() -> None:
    payload = shared_budget.run(
        processes=2,
        records=400,
        latency=0.0,
        jitter=0.0,
        limit_scale=100,
        parts=["dagster"],
        stores=["host"],
        verbose=False,
        startup_allowance=0.5,
        repeat=False,
    )
    (res,) = payload["results"]
    assert res["correct"] == "yes"
    runs = res["per_run"]
    assert {r["partition"] for r in runs} == {"PRJ1", "PRJ2"}
    assert all(r["success"] and r["records"] == 200 for r in runs)
    # the multiprocess executor ran each step outside its run worker, in distinct processes
    step_pids = [pid for r in runs for pid in r["step_pids"]]
    assert len(set(step_pids)) == 2
    assert not {r["run_pid"] for r in runs} & set(step_pids)
    assert set(res["per_product_arrivals"]) == {"PRJ1", "PRJ2"}
    # each step's start (Dagster's event) comes before its first request reached the sandbox
    assert all(r["step_to_first_request_s"] is not None for r in runs)
    assert all(r["step_to_first_request_s"] > 0 for r in runs)
